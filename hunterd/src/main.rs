fn main() -> std::process::ExitCode {
    hunterd::cli::main()
}
