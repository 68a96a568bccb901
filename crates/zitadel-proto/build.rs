//! Compiles usher's own `.proto` files (under `proto/`) with the pure-Rust `protox` compiler — no
//! system `protoc` — and hands the resulting descriptor set to `connectrpc-build`, which generates
//! the buffa message types and the connectrpc service trait into `OUT_DIR`.

use std::path::PathBuf;

/// The files to generate code for, relative to `proto/` (= their names in the descriptor set).
const FILES: &[&str] = &[
    "google/rpc/status.proto",
    "zitadel/object/v2/object.proto",
    "zitadel/v1/message.proto",
    "zitadel/user/v2/email.proto",
    "zitadel/user/v2/phone.proto",
    "zitadel/user/v2/password.proto",
    "zitadel/user/v2/user.proto",
    "zitadel/user/v2/query.proto",
    "zitadel/user/v2/unimplemented.proto",
    "zitadel/user/v2/user_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let proto_dir = manifest_dir.join("proto");

    // protox resolves google/protobuf/*.proto (timestamp, empty, …) from its bundled copies.
    let mut compiler = protox::Compiler::new([&proto_dir])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(FILES)?;
    let descriptor_set = out_dir.join("zitadel.fds.bin");
    let bytes = compiler.encode_file_descriptor_set();
    if std::fs::read(&descriptor_set).ok().as_deref() != Some(bytes.as_slice()) {
        std::fs::write(&descriptor_set, bytes)?;
    }

    connectrpc_build::Config::new()
        .descriptor_set(&descriptor_set)
        .files(FILES)
        .include_file("_connectrpc.rs")
        // Its directives would watch only the descriptor set (written by this script); watch the
        // sources instead.
        .emit_rerun_directives(false)
        .compile()?;

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
