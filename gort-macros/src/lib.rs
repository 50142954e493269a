//! `#[gort::main]`: runs `main`'s body as the first goroutine.
//!
//! Written against `proc_macro` directly (no `syn`): the input is a plain
//! `fn main() [-> Ret] { body }` and the output wraps the body in a closure
//! handed to `gort::run`. Returning through `std::process::Termination::report`
//! inside the goroutine keeps std's behaviour for `()`, `ExitCode` and
//! `Result<_, E: Debug>` while only an `ExitCode` (which is `Send`) crosses back
//! to the main thread.

use proc_macro::{Delimiter, TokenStream, TokenTree};

/// Runs `main`'s body as the first goroutine; see `gort::main`.
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return error("#[gort::main] takes no arguments");
    }
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let Some(fn_pos) = tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"))
    else {
        return error("#[gort::main] must be put on a function");
    };
    let body = match tokens.last() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g.clone(),
        _ => return error("#[gort::main] expects a function with a body"),
    };
    // fn NAME ( ) [-> RET] { BODY }
    let name = match tokens.get(fn_pos + 1) {
        Some(TokenTree::Ident(i)) => i.to_string(),
        _ => return error("#[gort::main]: expected a function name"),
    };
    match tokens.get(fn_pos + 2) {
        Some(TokenTree::Group(g))
            if g.delimiter() == Delimiter::Parenthesis && g.stream().is_empty() => {}
        _ => return error("#[gort::main] functions take no arguments"),
    }
    if tokens
        .iter()
        .take(fn_pos)
        .any(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "async"))
    {
        return error("#[gort::main] functions are not async: goroutines block freely");
    }
    let ret_tokens = &tokens[fn_pos + 3..tokens.len() - 1];
    let ret: TokenStream = match ret_tokens {
        [] => "()".parse().unwrap(),
        [TokenTree::Punct(a), TokenTree::Punct(b), rest @ ..]
            if a.as_char() == '-' && b.as_char() == '>' && !rest.is_empty() =>
        {
            rest.iter().cloned().collect()
        }
        _ => {
            return error(
                "#[gort::main]: unsupported function signature (generics or where clauses)",
            );
        }
    };
    let prefix: TokenStream = tokens[..fn_pos].iter().cloned().collect();
    let out = format!(
        "{prefix} fn {name}() -> ::std::process::ExitCode {{
            ::gort::run(move || -> ::std::process::ExitCode {{
                ::std::process::Termination::report((move || -> {ret} {body})())
            }})
        }}"
    );
    out.parse()
        .unwrap_or_else(|_| error("#[gort::main]: failed to expand"))
}

fn error(msg: &str) -> TokenStream {
    format!("compile_error!({msg:?});").parse().unwrap()
}
