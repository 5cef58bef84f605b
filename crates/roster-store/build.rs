// The migrations are embedded at compile time (`sqlx::migrate!`): a new file in their
// folders must rebuild this crate.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
