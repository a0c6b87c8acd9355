//! `components/auth`: exports `mirubato:auth/auth`. The rules live in [`rules`] (pure, tested
//! natively); the component only reads its variables and maps results to the WIT types.

pub mod rules;

#[cfg(any(test, feature = "matrix"))]
pub mod matrix;

#[cfg(target_arch = "wasm32")]
mod component;

#[cfg(test)]
mod tests;
