//! Fills `users.display_name` from the part of the email before the `@`.
//! Data only, so it runs in one transaction with its history row: all of
//! it or none of it, even on MySQL.

use migrate::{Tx, Value};

pub fn up(tx: &mut dyn Tx) -> migrate::Result<()> {
    let users = tx.query("SELECT id, email FROM users WHERE display_name IS NULL", &[])?;
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
    tx.execute("UPDATE users SET display_name = NULL", &[])?;
    Ok(())
}
