//! Prints a Mirubato-shaped token for local development: `cargo run -q -p e2e --bin dev-token -- USER`.
//! Signed with `SPIN_VARIABLE_JWT_SECRET`, or the public local-development secret `scripts/run` uses.

use protocol::jwt_secret::LOCAL_DEVELOPMENT_SECRET;

fn main() {
    let Some(user) = std::env::args().nth(1) else {
        eprintln!(
            "usage: dev-token USER   (signs with SPIN_VARIABLE_JWT_SECRET or the local development secret)"
        );
        std::process::exit(2);
    };
    let secret = std::env::var("SPIN_VARIABLE_JWT_SECRET")
        .unwrap_or_else(|_| LOCAL_DEVELOPMENT_SECRET.to_string());
    println!(
        "{}",
        auth::matrix::sign_hs256(&secret, &auth::matrix::mirubato_claims(&user))
    );
}
