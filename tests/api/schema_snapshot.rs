//! The committed SDL is what the code generates; refresh it with
//! `cargo run -- schema > schema/customer360.graphql`.

#[test]
fn the_schema_snapshot_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/customer360.graphql"
    ))
    .expect("schema/customer360.graphql exists");
    let generated = c360::graphql::sdl();
    assert!(
        committed == generated,
        "schema/customer360.graphql is out of date: run `cargo run -- schema > schema/customer360.graphql` and review the diff"
    );
}
