fn main() {
    eprintln!("concord: not built yet");
    std::process::exit(2);
}
