//! Adds `users.display_name` and fills it from the part of the email before
//! the `@`: logic that is awkward in portable SQL, so it is written in Rust.

use migrate::{Tx, Value};

pub fn up(tx: &mut dyn Tx) -> migrate::Result<()> {
    tx.batch("ALTER TABLE users ADD COLUMN display_name TEXT")?;
    let users = tx.query("SELECT id, email FROM users", &[])?;
    for row in users {
        let (Some(id), Some(email)) = (row[0].as_i64(), row[1].as_str()) else {
            continue;
        };
        let display_name = email.split('@').next().unwrap_or(email).to_owned();
        tx.execute(
            "UPDATE users SET display_name = $1 WHERE id = $2",
            &[Value::from(display_name), Value::from(id)],
        )?;
    }
    Ok(())
}

pub fn down(tx: &mut dyn Tx) -> migrate::Result<()> {
    tx.batch("ALTER TABLE users DROP COLUMN display_name")
}
