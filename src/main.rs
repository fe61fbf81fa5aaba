use clap::Parser;

fn main() {
    let cli = planner::cli::Cli::parse();
    let code = match planner::cli::run(cli) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("error: {err:#}");
            planner::error::exit_code(&err)
        }
    };
    std::process::exit(code);
}
