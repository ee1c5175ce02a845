//! History table names: `table` or `schema.table`, each part a plain SQL
//! identifier, validated once (by the macro at compile time, again by the
//! runtime for a hand-built registry) so nothing can be injected through it.

use std::fmt;

/// A validated history table name: `table` or `schema.table`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableName<'a> {
    /// The schema, if the name is qualified.
    pub schema: Option<&'a str>,
    /// The table.
    pub table: &'a str,
}

/// The longest identifier PostgreSQL keeps without truncating it.
pub const MAX_IDENTIFIER_LEN: usize = 63;

impl<'a> TableName<'a> {
    /// Parses `table` or `schema.table`, each part an identifier of ASCII
    /// letters, digits and `_` not starting with a digit, at most 63 bytes.
    ///
    /// # Example
    ///
    /// ```
    /// use migrate_core::TableName;
    ///
    /// let name = TableName::parse("billing.schema_history").unwrap();
    /// assert_eq!((name.schema, name.table), (Some("billing"), "schema_history"));
    /// assert!(TableName::parse("history; DROP TABLE users").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// A message saying what is wrong with the name and what is allowed.
    pub fn parse(name: &'a str) -> Result<Self, String> {
        if name.matches('.').count() > 1 {
            return Err(format!(
                "`{name}` is not a valid table name: it has more than one `.`; use `table` or `schema.table`"
            ));
        }
        let (schema, table) = match name.split_once('.') {
            Some((schema, table)) => (Some(schema), table),
            None => (None, name),
        };
        for part in schema.into_iter().chain([table]) {
            check_identifier(name, part)?;
        }
        if let Some(schema) = schema {
            let lower = schema.to_ascii_lowercase();
            if lower == "temp" || lower == "temporary" || lower.starts_with("pg_temp") {
                return Err(format!(
                    "`{name}` is not a valid table name: `{schema}` is a temporary schema, \
                     whose tables vanish with the connection, so every boot would apply \
                     everything again; use a real schema or none"
                ));
            }
        }
        Ok(TableName { schema, table })
    }
}

impl fmt::Display for TableName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.table),
            None => f.write_str(self.table),
        }
    }
}

fn check_identifier(whole: &str, part: &str) -> Result<(), String> {
    const ALLOWED: &str = "a table name is an identifier of ASCII letters, digits and `_` \
                           not starting with a digit, optionally qualified as `schema.table`";
    if part.is_empty() {
        return Err(format!("`{whole}` is not a valid table name; {ALLOWED}"));
    }
    if let Some(bad) = part
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(format!(
            "`{whole}` is not a valid table name: it holds {bad:?}; {ALLOWED}"
        ));
    }
    if part.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "`{whole}` is not a valid table name: `{part}` starts with a digit; {ALLOWED}"
        ));
    }
    if part.len() > MAX_IDENTIFIER_LEN {
        return Err(format!(
            "`{whole}` is not a valid table name: `{part}` is longer than {MAX_IDENTIFIER_LEN} \
             bytes, which PostgreSQL would truncate; use a shorter name"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        assert_eq!(
            TableName::parse("migrate_schema_history"),
            Ok(TableName {
                schema: None,
                table: "migrate_schema_history"
            })
        );
        assert_eq!(
            TableName::parse("_App.History2").map(|t| t.to_string()),
            Ok("_App.History2".to_owned())
        );
    }

    #[test]
    fn invalid_names() {
        for bad in [
            "",
            ".",
            "a.",
            ".a",
            "a.b.c",
            "1table",
            "s.1t",
            "my table",
            "t\"; DROP TABLE users; --",
            "t;",
            "\"quoted\"",
            "temp.history",
            "TEMPORARY.history",
            "pg_temp.history",
            "pg_temp_3.history",
            "tablé",
            &"x".repeat(64),
        ] {
            assert!(TableName::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(TableName::parse(&"x".repeat(63)).is_ok());
    }
}
