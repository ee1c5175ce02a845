//! Integration tests of the `migrate` facade, in one binary.

mod cli;
mod embedded_vs_disk;
mod errors;
mod faults;
mod logger;
mod mysql;
mod pooler;
mod pools;
mod postgres;
mod postgres_async;
mod processes;
mod readme;
mod rebuild;
mod scenarios;
mod sets;
mod sqlite;
