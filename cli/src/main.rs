//! `millennium`: thin binary over [`millennium_cli`].

fn main() -> std::process::ExitCode {
    millennium_cli::main(std::env::args_os())
}
