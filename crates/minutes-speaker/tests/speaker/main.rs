//! Integration tests against the real CAM++ model and committed clips (one test binary).

mod helpers;
mod parity;
