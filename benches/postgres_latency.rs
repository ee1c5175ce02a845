//! PostgreSQL over a slow network. A TCP proxy in this process stands
//! between the client and a local server, delays every chunk by a fixed
//! time each way (`DELAY_US`, 500 µs by default: a 1 ms round trip, as to a
//! database in the same region) and counts round trips: each time the
//! client speaks again after the server has answered.
//!
//! Applying `COUNTS` (default `100,1000`) generated one-table migrations to
//! a fresh database, one run each, interleaved:
//!
//! - **floor**: by hand, each migration as one batch
//!   `BEGIN; <sql>; INSERT INTO history ...; COMMIT` — one round trip each;
//! - **migrate**: one transaction per migration, sync and async clients;
//! - **migrate grouped**: one transaction for the whole run;
//! - **refinery** (sync). sqlx is not a dependency here and is not measured.
//!
//! Then boot with nothing pending (connect + check + first query).
//! Targets: one transaction each at most 1.1x the floor and 1.5 round trips
//! per migration; grouped within its local time plus 10 round trips.
//!
//! Run: `./scripts/with-postgres cargo bench -p migrate-benches --bench postgres_latency`
//! (any server: set `MIGRATE_TEST_POSTGRES_URL`).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use migrate::postgres::{Client, NoTls};
use support::{env_usize, migrate_registry, ms, refinery_runner, sql};

const FLOOR_HISTORY: &str = "CREATE TABLE floor_history (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
     checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), execution_ms BIGINT NOT NULL)";
const FLOOR_CHECKSUM: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

/// A delaying, round-trip-counting TCP proxy to `upstream`.
struct Proxy {
    port: u16,
    turns: Arc<AtomicU64>,
}

impl Proxy {
    fn start(upstream: SocketAddr, delay: Duration) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let turns = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&turns);
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let server = TcpStream::connect(upstream).expect("connect to the server");
                for stream in [&client, &server] {
                    stream.set_nodelay(true).expect("nodelay");
                }
                // Who spoke last on this connection: 1 the client, 2 the server.
                let last = Arc::new(AtomicU8::new(0));
                let up = Side {
                    from: client.try_clone().expect("clone"),
                    to: server.try_clone().expect("clone"),
                    me: 1,
                };
                let down = Side {
                    from: server,
                    to: client,
                    me: 2,
                };
                up.pump(delay, Arc::clone(&last), Some(Arc::clone(&counted)));
                down.pump(delay, last, None);
            }
        });
        Proxy { port, turns }
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn take_turns(&self) -> u64 {
        self.turns.swap(0, Ordering::SeqCst)
    }
}

/// One direction of a proxied connection.
struct Side {
    from: TcpStream,
    to: TcpStream,
    me: u8,
}

impl Side {
    /// Forwards every chunk `delay` after it arrived, in order, keeping
    /// pipelined chunks pipelined; counts a turn when the client speaks
    /// after the server (`turns` on the client's side).
    fn pump(self, delay: Duration, last: Arc<AtomicU8>, turns: Option<Arc<AtomicU64>>) {
        let Side {
            mut from,
            mut to,
            me,
        } = self;
        let (send, receive) = mpsc::channel::<(Instant, Vec<u8>)>();
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if last.swap(me, Ordering::SeqCst) != me {
                    if let Some(turns) = &turns {
                        turns.fetch_add(1, Ordering::SeqCst);
                    }
                }
                if send.send((Instant::now(), buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        });
        thread::spawn(move || {
            for (arrived, chunk) in receive {
                let due = arrived + delay;
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
                if to.write_all(&chunk).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(std::net::Shutdown::Write);
        });
    }
}

fn floor_apply(client: &mut Client, texts: &[String]) {
    client.batch_execute(FLOOR_HISTORY).expect("history table");
    for (i, text) in texts.iter().enumerate() {
        client
            .batch_execute(&format!(
                "BEGIN;\n{text}\n;INSERT INTO floor_history (version, name, checksum, execution_ms) \
                 VALUES ({}, 'create_table', '{FLOOR_CHECKSUM}', 0); COMMIT",
                i + 1
            ))
            .expect("migration");
    }
}

fn first_query(client: &mut Client) {
    let n: i64 = client
        .query_one("SELECT count(*) FROM t1", &[])
        .expect("first query")
        .get(0);
    std::hint::black_box(n);
}

/// One measured run: wall time and round trips through the proxy.
struct Sample {
    took: Duration,
    turns: u64,
}

fn main() {
    let Ok(url) = std::env::var("MIGRATE_TEST_POSTGRES_URL") else {
        println!("no PostgreSQL server: run through ./scripts/with-postgres (or set MIGRATE_TEST_POSTGRES_URL)");
        return;
    };
    let delay = Duration::from_micros(env_usize("DELAY_US", 500) as u64);
    let counts: Vec<usize> = std::env::var("COUNTS")
        .unwrap_or_else(|_| "100,1000".to_owned())
        .split(',')
        .map(|c| c.trim().parse().expect("COUNTS: numbers, comma-separated"))
        .collect();
    let (base, _) = url.rsplit_once('/').expect("a database URL");
    let address = base
        .rsplit_once('@')
        .map_or(base, |(_, host)| host)
        .trim_start_matches("postgres://");
    let upstream: SocketAddr = address.parse().expect("a 127.0.0.1:port server address");
    let proxy = Proxy::start(upstream, delay);
    let mut admin = Client::connect(&url, NoTls).expect("connect");
    let mut next = 0;
    let mut fresh = || {
        next += 1;
        let name = format!("bench_latency_{}_{next}", std::process::id());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        name
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "PostgreSQL through a proxy adding {} µs each way ({:.1} ms round trip)",
        delay.as_micros(),
        delay.as_secs_f64() * 2000.0
    );

    for &count in &counts {
        let texts: Vec<String> = (1..=count).map(sql).collect();
        let registry = migrate_registry(count);
        let names = [
            "floor: one batch each",
            "migrate, sync",
            "migrate, async",
            "migrate grouped",
            "refinery",
        ];
        let mut samples: Vec<Sample> = Vec::with_capacity(names.len());
        let mut local_grouped = Duration::ZERO;
        for which in 0..names.len() {
            let db = fresh();
            let through = proxy.url(&db);
            let mut client = Client::connect(&through, NoTls).expect("connect");
            proxy.take_turns();
            let start = Instant::now();
            match which {
                0 => floor_apply(&mut client, &texts),
                1 => {
                    registry.run_pending(&mut client).expect("apply");
                }
                2 => runtime.block_on(async {
                    let (mut client, connection) =
                        migrate::tokio_postgres::connect(&through, NoTls)
                            .await
                            .expect("connect");
                    tokio::spawn(connection);
                    proxy.take_turns();
                    registry
                        .run_pending_async(&mut client)
                        .await
                        .expect("apply");
                }),
                3 => {
                    registry
                        .runner()
                        .grouped(true)
                        .run_pending(&mut client)
                        .expect("apply");
                }
                _ => {
                    refinery_runner(&texts).run(&mut client).expect("apply");
                }
            }
            samples.push(Sample {
                took: start.elapsed(),
                turns: proxy.take_turns(),
            });
            if which == 3 {
                // The same grouped run without the proxy.
                let mut direct =
                    Client::connect(&format!("{base}/{}", fresh()), NoTls).expect("connect");
                let start = Instant::now();
                registry
                    .runner()
                    .grouped(true)
                    .run_pending(&mut direct)
                    .expect("apply");
                local_grouped = start.elapsed();
            }
        }
        let floor = samples[0].took;
        println!("apply {count} migrations");
        for (name, sample) in names.iter().zip(&samples) {
            println!(
                "  {name:<24} {:>12}  {:.2}x floor  {:>6} round trips ({:.2} per migration)",
                ms(sample.took),
                sample.took.as_secs_f64() / floor.as_secs_f64(),
                sample.turns,
                sample.turns as f64 / count as f64
            );
        }
        let rtt = delay * 2;
        println!(
            "  grouped locally {} + 10 round trips = {} (target for grouped)",
            ms(local_grouped),
            ms(local_grouped + rtt * 10)
        );
    }

    // ---- boot, nothing pending, through the proxy ----
    let count = *counts.last().expect("a count");
    let registry = migrate_registry(count);
    let db = fresh();
    registry
        .run_pending(&mut Client::connect(&format!("{base}/{db}"), NoTls).expect("connect"))
        .expect("apply");
    let runs = env_usize("BOOT_RUNS", 20);
    let mut took = Vec::with_capacity(runs);
    let mut turns = 0;
    for _ in 0..runs {
        proxy.take_turns();
        let start = Instant::now();
        let mut client = Client::connect(&proxy.url(&db), NoTls).expect("connect");
        let before = proxy.take_turns();
        registry.run_pending(&mut client).expect("boot");
        turns = proxy.take_turns();
        first_query(&mut client);
        took.push(start.elapsed());
        std::hint::black_box(before);
    }
    println!(
        "boot with {count} applied through the proxy: connect + check + first query {} (median of {runs}); the check itself {turns} round trip(s)",
        ms(support::median(took))
    );
}
