//! `#[gort::main]`: runs `main`'s body as the first goroutine.
//!
//! Written against `proc_macro` directly (no `syn`): the input is a plain
//! `fn main() [-> Ret] { body }` and the output wraps the body in a closure
//! handed to `gort::run`. Returning through `std::process::Termination::report`
//! inside the goroutine keeps std's behaviour for `()`, `ExitCode` and
//! `Result<_, E: Debug>` while only an `ExitCode` (which is `Send`) crosses back
//! to the main thread.

use proc_macro::{Delimiter, Group, TokenStream, TokenTree};

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
    // The user's return type and body are spliced in as tokens (not re-parsed
    // text) so that their spans, and so panic locations and error messages, point
    // at the user's code.
    let mut closure: TokenStream = "move || ->".parse().unwrap();
    closure.extend(ret);
    closure.extend([TokenTree::Group(body)]);
    let mut report_arg = TokenStream::new();
    report_arg.extend([TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        closure,
    ))]);
    report_arg.extend("()".parse::<TokenStream>().unwrap());
    let mut report: TokenStream = "::std::process::Termination::report".parse().unwrap();
    report.extend([TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        report_arg,
    ))]);
    let mut goroutine: TokenStream = "move || -> ::std::process::ExitCode".parse().unwrap();
    goroutine.extend([TokenTree::Group(Group::new(Delimiter::Brace, report))]);
    let mut run: TokenStream = "::gort::run".parse().unwrap();
    run.extend([TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        goroutine,
    ))]);

    let mut out: TokenStream = tokens[..fn_pos].iter().cloned().collect();
    out.extend(
        format!("fn {name}() -> ::std::process::ExitCode")
            .parse::<TokenStream>()
            .unwrap(),
    );
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, run))]);
    out
}

fn error(msg: &str) -> TokenStream {
    format!("compile_error!({msg:?});").parse().unwrap()
}
