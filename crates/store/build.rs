// `sqlx::migrate!` embeds the migration files at compile time; without this, adding a migration
// does not rebuild the crate and a binary can ship without it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
