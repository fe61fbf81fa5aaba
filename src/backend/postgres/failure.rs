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
        parts.push(shorten(&text));
        if cause.downcast_ref::<sqlx::Error>().is_some() {
            // describe_sqlx already said what its sources say.
            break;
        }
    }
    parts.join(": ")
}

/// Longest part of an error printed in full: a pasted 30 MB plan name must not flood the terminal.
const MAX_PART: usize = 2000;

/// `text` with its middle elided when it is longer than [`MAX_PART`] bytes.
fn shorten(text: &str) -> String {
    if text.len() <= MAX_PART {
        return text.to_string();
    }
    let head_end = (0..=MAX_PART / 2).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    let tail_start =
        (text.len() - MAX_PART / 4..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
    format!("{}… ({} bytes left out) …{}", &text[..head_end], tail_start - head_end, &text[tail_start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_parts_are_shortened() {
        let long = format!("bad name `{}é` here", "x".repeat(5_000_000));
        let out = render(&anyhow::anyhow!(long));
        assert!(out.len() < 2 * MAX_PART, "{}", out.len());
        assert!(
            out.starts_with("bad name `xxx") && out.ends_with("é` here") && out.contains("bytes left out")
        );
        assert_eq!(render(&anyhow::anyhow!("short")), "short");
    }

    #[test]
    fn each_cause_once() {
        let io =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        let err = anyhow::Error::from(sqlx::Error::Io(io)).context("connecting to db");
        assert_eq!(render(&err), "connecting to db: Connection refused (os error 111)");
    }
}
