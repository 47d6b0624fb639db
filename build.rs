//! Rebuilds the binary when a migration changes: `sqlx::migrate!` embeds the files at
//! compile time, and cargo does not otherwise know they are inputs.
//!
//! Also tells the tests which services they may use: `cfg(c360_postgres)` when
//! `C360_TEST_DATABASE_URL` is set, `cfg(c360_redis)` when `C360_TEST_REDIS_URL` is,
//! `cfg(c360_amqp)` when `C360_TEST_AMQP_URL` (a RabbitMQ broker) is.
//! A test that needs a service is `#[ignore]`d without it, so that `cargo test`
//! reports it as ignored rather than passed; with the variable set (as `.ci/run` does)
//! it runs, and fails if the service is not there.

/// Each test service: the variable that names it and the cfg set when it does.
const SERVICES: [(&str, &str); 3] = [
    ("C360_TEST_DATABASE_URL", "c360_postgres"),
    ("C360_TEST_REDIS_URL", "c360_redis"),
    ("C360_TEST_AMQP_URL", "c360_amqp"),
];

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    // The console's built files are embedded (src/http/console.rs); a file added
    // there must rebuild the binary too.
    println!("cargo:rerun-if-changed=console/dist");
    for (variable, cfg) in SERVICES {
        println!("cargo:rustc-check-cfg=cfg({cfg})");
        println!("cargo:rerun-if-env-changed={variable}");
        if std::env::var_os(variable).is_some_and(|v| !v.is_empty()) {
            println!("cargo:rustc-cfg={cfg}");
        }
    }
}
