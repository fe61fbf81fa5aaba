use clap::Parser;

fn main() {
    quiet_on_closed_stdout();
    let cli = planner::cli::Cli::parse();
    let code = match planner::cli::run(cli) {
        Ok(()) => 0,
        Err(err) if is_broken_pipe(&err) => 141,
        Err(err) => {
            eprintln!("error: {}", planner::exec::failure::render(&err));
            planner::error::exit_code(&err)
        }
    };
    std::process::exit(code);
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `planner status | head -3`: when the reader goes away, `println!` panics on EPIPE. Exit
/// quietly as a Unix tool killed by SIGPIPE would (status 141) instead of printing a panic. We do
/// not restore SIGPIPE's default action: it would also kill us on a dropped database socket.
fn quiet_on_closed_stdout() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
}
