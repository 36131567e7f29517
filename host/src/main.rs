fn main() -> std::process::ExitCode {
    skillbox::main()
}
