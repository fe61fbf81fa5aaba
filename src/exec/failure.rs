//! How an error reaches the terminal: each cause once, PostgreSQL's own fields (detail, hint,
//! SQLSTATE) instead of sqlx's wrapper text and the server's C source line.

/// One sqlx error as a user reads it.
pub fn describe_sqlx(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => {
            let mut out = db.message().to_string();
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                if let Some(detail) = pg.detail() {
                    out.push_str(&format!("\n  detail: {detail}"));
                }
                if let Some(hint) = pg.hint() {
                    out.push_str(&format!("\n  hint: {hint}"));
                }
            }
            if let Some(code) = db.code() {
                out.push_str(&format!(" (SQLSTATE {code})"));
            }
            // 26000 on one of sqlx's own statements: it was prepared on another server backend.
            if db.code().as_deref() == Some("26000") && db.message().contains("sqlx_s_") {
                out.push_str(
                    "\n  help: a connection pooler in transaction mode (PgBouncer pool_mode=transaction) moved this \
                     session to another server backend; connect to PostgreSQL directly or through a session-mode pool",
                );
            }
            out
        }
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Tls(inner) => inner.to_string(),
        sqlx::Error::Protocol(p) if p.contains("prepared statement") => format!(
            "{p} (a connection pooler in transaction mode, such as PgBouncer, does this; connect to PostgreSQL directly)"
        ),
        other => other.to_string(),
    }
}

/// The whole chain of `err` on one line per context, every cause once.
pub fn render(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = match cause.downcast_ref::<sqlx::Error>() {
            Some(sqlx_err) => describe_sqlx(sqlx_err),
            None => cause.to_string(),
        };
        // sqlx and io errors repeat their source in their own text; say it once.
        if text.is_empty() || parts.iter().any(|p| p.contains(text.as_str())) {
            continue;
        }
        parts.push(text);
        if cause.downcast_ref::<sqlx::Error>().is_some() {
            // describe_sqlx already said what its sources say.
            break;
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_once() {
        let io =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        let err = anyhow::Error::from(sqlx::Error::Io(io)).context("connecting to db");
        assert_eq!(render(&err), "connecting to db: Connection refused (os error 111)");
    }
}
