fn main() {
    std::process::exit(ferrymail::cli::main());
}
