//! `cargo millennium …`: cargo runs this as `cargo-millennium millennium …`; the second argument is dropped and the
//! rest is `millennium`'s command line.

fn main() -> std::process::ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "millennium") {
        args.remove(1);
    }
    millennium_cli::main(args)
}
