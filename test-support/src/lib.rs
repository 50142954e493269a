//! Helpers shared by gort's test suites (`gort/tests`, `ffi-tests`): child
//! test processes for the tests whose subject is a crash, a hang or a fresh
//! process, and facts about OS threads read from the OS itself.

mod child;
mod thread;
mod wine;

pub use child::{Child, child_mode, stdout_value};
pub use thread::{Death, death, os_tid, thread_alive, thread_stacks};
pub use wine::under_wine;
