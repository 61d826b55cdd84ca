//! API errors are the application layer's error catalogue ([`telederm_app::error`]): a stable
//! `code` (with its HTTP status), a message that says what to do next, and optional details,
//! serialised as `{"code": ..., "message": ..., "details": ...}` (`docs/errors.md`).

pub use telederm_app::error::{Code, Error as ApiError, Error as ErrorBody, Result as ApiResult};
