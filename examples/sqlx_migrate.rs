//! What an app using sqlx does at startup (`sqlx::migrate!("migrations").run(&pool)`), as a
//! command: runs a folder of sqlx migrations with sqlx's own `Migrator` against $DATABASE_URL.
//! `cargo run --example sqlx_migrate -- DIR` applies what is pending; `-- DIR undo` runs every down.

use sqlx::Connection;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: sqlx_migrate DIR [run | undo]")?;
    let action = args.next().unwrap_or_else(|| "run".to_string());
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let mut conn = sqlx::PgConnection::connect(&url).await?;
    let migrator = sqlx::migrate::Migrator::new(std::path::Path::new(&dir)).await?;
    let result = match action.as_str() {
        "run" => migrator.run(&mut conn).await,
        "undo" => migrator.undo(&mut conn, 0).await,
        other => return Err(format!("unknown action `{other}` (run or undo)").into()),
    };
    if let Err(e) = result {
        // The database's message (e.g. "Cannot contract: …") is the part a deploy log needs.
        let detail = match &e {
            sqlx::migrate::MigrateError::ExecuteMigration(db, version) => {
                format!("migration {version}: {db}")
            }
            other => other.to_string(),
        };
        eprintln!("error: {detail}");
        std::process::exit(1);
    }
    println!("sqlx migrate {action}: ok");
    Ok(())
}
