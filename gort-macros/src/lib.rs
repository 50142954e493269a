//! `#[gort::main]`: runs `main`'s body as the first goroutine;
//! `#[gort::test]`: the same for a test; `gort::select!`.
//!
//! Written against `proc_macro` directly (no `syn`): the input is a plain
//! `fn main() [-> Ret] { body }` and the output wraps the body in a closure
//! handed to `gort::run`. Returning through `std::process::Termination::report`
//! inside the goroutine keeps std's behaviour for `()`, `ExitCode` and
//! `Result<_, E: Debug>` while only an `ExitCode` (which is `Send`) crosses back
//! to the main thread.

use proc_macro::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};

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

/// Runs a test's body as a goroutine; see `gort::test`.
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    let procs = match parse_test_args(attr) {
        Ok(p) => p,
        Err(msg) => return error(&msg),
    };
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let Some(fn_pos) = tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"))
    else {
        return error("#[gort::test] must be put on a function");
    };
    let body = match tokens.last() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g.clone(),
        _ => return error("#[gort::test] expects a function with a body"),
    };
    let name = match tokens.get(fn_pos + 1) {
        Some(TokenTree::Ident(i)) => i.clone(),
        _ => return error("#[gort::test]: expected a function name"),
    };
    match tokens.get(fn_pos + 2) {
        Some(TokenTree::Group(g))
            if g.delimiter() == Delimiter::Parenthesis && g.stream().is_empty() => {}
        _ => return error("#[gort::test] functions take no arguments"),
    }
    if tokens
        .iter()
        .take(fn_pos)
        .any(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "async"))
    {
        return error("#[gort::test] functions are not async: goroutines block freely");
    }
    let ret_tokens = &tokens[fn_pos + 3..tokens.len() - 1];
    let unit = ret_tokens.is_empty();
    let ret: TokenStream = match ret_tokens {
        [] => "()".parse().unwrap(),
        [TokenTree::Punct(a), TokenTree::Punct(b), rest @ ..]
            if a.as_char() == '-' && b.as_char() == '>' && !rest.is_empty() =>
        {
            rest.iter().cloned().collect()
        }
        _ => {
            return error(
                "#[gort::test]: unsupported function signature (generics or where clauses)",
            );
        }
    };
    // As `main`: the body runs in the goroutine and is reported there (so an
    // `Err` that is not `Send` never crosses threads); a panic is resumed on
    // the test's thread by `run`, so `#[should_panic]` sees its payload.
    let mut closure: TokenStream = "move || ->".parse().unwrap();
    closure.extend(ret);
    closure.extend([TokenTree::Group(body)]);
    let mut args = TokenStream::new();
    args.extend(format!("{procs},").parse::<TokenStream>().unwrap());
    args.extend([TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        closure,
    ))]);
    // A test returning `()` stays one (`#[should_panic]` requires it).
    let runner = if unit { "run_test_unit" } else { "run_test" };
    let mut call: TokenStream = format!("::gort::__private::{runner}").parse().unwrap();
    call.extend([TokenTree::Group(Group::new(Delimiter::Parenthesis, args))]);

    // `#[test]` first, then the user's own attributes (`#[ignore]`,
    // `#[should_panic]`, docs) and visibility, unchanged.
    let mut out: TokenStream = "#[::core::prelude::v1::test]".parse().unwrap();
    out.extend(tokens[..fn_pos].iter().cloned());
    out.extend("fn".parse::<TokenStream>().unwrap());
    out.extend([TokenTree::Ident(name)]);
    let sig = if unit {
        "()"
    } else {
        "() -> ::std::process::ExitCode"
    };
    out.extend(sig.parse::<TokenStream>().unwrap());
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, call))]);
    out
}

/// `procs = N` (or nothing): the processors the test asks for, `0` for "as
/// they are".
fn parse_test_args(attr: TokenStream) -> Result<usize, String> {
    let toks: Vec<TokenTree> = attr.into_iter().collect();
    match toks.as_slice() {
        [] => Ok(0),
        [
            TokenTree::Ident(k),
            TokenTree::Punct(eq),
            TokenTree::Literal(v),
        ] if k.to_string() == "procs" && eq.as_char() == '=' => {
            match v.to_string().replace('_', "").parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err("#[gort::test]: `procs` must be a whole number of at least 1".into()),
            }
        }
        _ => Err("#[gort::test] takes nothing or `procs = N`".into()),
    }
}

fn error(msg: &str) -> TokenStream {
    format!("compile_error!({msg:?});").parse().unwrap()
}

/// One `select!` arm, as written.
enum ArmKind {
    Recv(TokenStream),
    Send(TokenStream, TokenStream),
    After(TokenStream),
    Default,
}

struct Arm {
    kind: ArmKind,
    pat: Option<TokenStream>,
    body: TokenStream,
}

/// `gort::select!`; documented on the re-export in `gort`.
///
/// Expands to: one `RecvCase`/`SendCase` local per arm (operands evaluated in
/// source order), a call to `gort::__private::select` with an array of them
/// and two scratch arrays of the same length, and a `match` on the winner
/// that runs the arm's body. The generated locals have mixed-site hygiene, so
/// user code cannot see or clash with them; user tokens keep their spans.
#[proc_macro]
pub fn select(input: TokenStream) -> TokenStream {
    match parse_arms(input) {
        Ok(arms) => expand_select(arms),
        Err((span, msg)) => spanned_error(span, &msg),
    }
}

type ParseError = (Span, String);

fn is_punct(t: Option<&TokenTree>, c: char) -> bool {
    matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == c)
}

/// Splits `tokens` at top-level commas (commas inside brackets are inside
/// groups; those in generic arguments are not, so turbofish operands need
/// parentheses).
fn split_commas(tokens: TokenStream) -> Vec<TokenStream> {
    let mut parts = vec![TokenStream::new()];
    for t in tokens {
        if is_punct(Some(&t), ',') {
            parts.push(TokenStream::new());
        } else {
            parts.last_mut().unwrap().extend([t]);
        }
    }
    if parts.last().is_some_and(|p| p.is_empty()) && parts.len() > 1 {
        parts.pop();
    }
    parts
}

fn parse_arms(input: TokenStream) -> Result<Vec<Arm>, ParseError> {
    let toks: Vec<TokenTree> = input.into_iter().collect();
    let mut i = 0;
    let mut arms = Vec::new();
    while i < toks.len() {
        let (name, span) = match &toks[i] {
            TokenTree::Ident(id) => (id.to_string(), id.span()),
            t => {
                return Err((
                    t.span(),
                    "select!: expected an arm: recv(..), send(..), after(..) or default".into(),
                ));
            }
        };
        i += 1;
        let args = if name == "default" {
            None
        } else {
            match toks.get(i) {
                Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
                    i += 1;
                    Some(split_commas(g.stream()))
                }
                _ => return Err((span, format!("select!: expected `{name}(...)`"))),
            }
        };
        let kind = match (name.as_str(), args) {
            ("recv", Some(a)) if a.len() == 1 && !a[0].is_empty() => {
                ArmKind::Recv(a.into_iter().next().unwrap())
            }
            ("send", Some(a)) if a.len() >= 2 => {
                let mut a = a.into_iter();
                let tx = a.next().unwrap();
                // Anything after the first comma is the value.
                let mut value = TokenStream::new();
                for (k, part) in a.enumerate() {
                    if k > 0 {
                        value.extend(",".parse::<TokenStream>().unwrap());
                    }
                    value.extend(part);
                }
                ArmKind::Send(tx, value)
            }
            ("after", Some(a)) if a.len() == 1 && !a[0].is_empty() => {
                ArmKind::After(a.into_iter().next().unwrap())
            }
            ("default", None) => ArmKind::Default,
            ("recv", _) => return Err((span, "select!: expected `recv(receiver)`".into())),
            ("send", _) => return Err((span, "select!: expected `send(sender, value)`".into())),
            ("after", _) => return Err((span, "select!: expected `after(duration)`".into())),
            _ => {
                return Err((
                    span,
                    format!(
                        "select!: unknown arm `{name}` (expected recv, send, after or default)"
                    ),
                ));
            }
        };
        // [-> pattern] =>
        let mut pat = None;
        if is_punct(toks.get(i), '-') && is_punct(toks.get(i + 1), '>') {
            i += 2;
            let mut p = TokenStream::new();
            while i < toks.len() && !(is_punct(toks.get(i), '=') && is_punct(toks.get(i + 1), '>'))
            {
                p.extend([toks[i].clone()]);
                i += 1;
            }
            if p.is_empty() {
                return Err((span, "select!: expected a pattern after `->`".into()));
            }
            if matches!(kind, ArmKind::After(_) | ArmKind::Default) {
                return Err((span, format!("select!: `{name}` arms take no `-> pattern`")));
            }
            pat = Some(p);
        }
        if !(is_punct(toks.get(i), '=') && is_punct(toks.get(i + 1), '>')) {
            return Err((span, "select!: expected `=>` and the arm's body".into()));
        }
        i += 2;
        // Body: a block (comma optional) or an expression up to a top-level comma.
        let mut body = TokenStream::new();
        let block = matches!(toks.get(i), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace)
            && (i + 1 == toks.len()
                || is_punct(toks.get(i + 1), ',')
                || matches!(toks.get(i + 1), Some(TokenTree::Ident(_))));
        if block {
            body.extend([toks[i].clone()]);
            i += 1;
        } else {
            while i < toks.len() && !is_punct(toks.get(i), ',') {
                body.extend([toks[i].clone()]);
                i += 1;
            }
        }
        if body.is_empty() {
            return Err((span, "select!: empty arm body".into()));
        }
        if is_punct(toks.get(i), ',') {
            i += 1;
        }
        arms.push(Arm { kind, pat, body });
    }
    let count = |f: fn(&ArmKind) -> bool| arms.iter().filter(|a| f(&a.kind)).count();
    if count(|k| matches!(k, ArmKind::After(_))) > 1 {
        return Err((Span::call_site(), "select!: at most one `after` arm".into()));
    }
    if count(|k| matches!(k, ArmKind::Default)) > 1 {
        return Err((
            Span::call_site(),
            "select!: at most one `default` arm".into(),
        ));
    }
    Ok(arms)
}

/// Parses `code`, giving the macro's own identifiers (`__gort_*`) mixed-site
/// hygiene.
fn code(code: &str) -> TokenStream {
    fn respan(ts: TokenStream) -> TokenStream {
        ts.into_iter()
            .map(|t| match t {
                TokenTree::Ident(id) if id.to_string().starts_with("__gort_") => {
                    TokenTree::Ident(Ident::new(&id.to_string(), Span::mixed_site()))
                }
                TokenTree::Group(g) => {
                    let mut n = Group::new(g.delimiter(), respan(g.stream()));
                    n.set_span(g.span());
                    TokenTree::Group(n)
                }
                t => t,
            })
            .collect()
    }
    respan(code.parse().expect("select!: generated code parses"))
}

fn group(d: Delimiter, inner: TokenStream) -> TokenStream {
    TokenTree::Group(Group::new(d, inner)).into()
}

fn paren(inner: TokenStream) -> TokenStream {
    group(Delimiter::Parenthesis, inner)
}

fn brace(inner: TokenStream) -> TokenStream {
    group(Delimiter::Brace, inner)
}

fn expand_select(arms: Vec<Arm>) -> TokenStream {
    let mut out = TokenStream::new();
    let mut after = code("::core::option::Option::None");
    let mut has_default = false;
    let mut n = 0usize;
    let mut channel_arms = Vec::new();
    // Operands in source order.
    for arm in &arms {
        match &arm.kind {
            ArmKind::Recv(rx) => {
                out.extend(code(&format!("let mut __gort_c{n} =")));
                out.extend(paren(rx.clone()));
                out.extend(code(". __select_recv();"));
                channel_arms.push(n);
                n += 1;
            }
            ArmKind::Send(tx, v) => {
                out.extend(code(&format!("let mut __gort_c{n} =")));
                out.extend(paren(tx.clone()));
                out.extend(code(". __select_send"));
                out.extend(paren(v.clone()));
                out.extend(code(";"));
                channel_arms.push(n);
                n += 1;
            }
            ArmKind::After(d) => {
                out.extend(code(
                    "let __gort_after: ::core::option::Option<::core::time::Duration> = ::core::option::Option::Some",
                ));
                out.extend(paren(d.clone()));
                out.extend(code(";"));
                after = code("__gort_after");
            }
            ArmKind::Default => has_default = true,
        }
    }
    let case_list = (0..n)
        .map(|k| format!("&mut __gort_c{k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut call = code(&format!(
        "let mut __gort_cases: [&mut dyn ::gort::__private::Case; {n}] = [{case_list}];
         let mut __gort_order = [0u32; {n}];
         let mut __gort_lockorder = [0u32; {n}];
         ::gort::__private::select"
    ));
    let mut args = code("&mut __gort_cases, &mut __gort_order, &mut __gort_lockorder,");
    args.extend(after);
    args.extend(code(&format!(", {has_default}")));
    call.extend(paren(args));
    out.extend(code("let __gort_won: usize ="));
    out.extend(brace(call));
    out.extend(code(";"));

    let mut match_arms = TokenStream::new();
    let mut k = 0usize;
    for arm in arms {
        let body = brace(arm.body);
        match arm.kind {
            ArmKind::Recv(_) | ArmKind::Send(..) => {
                let mut inner = code(&format!("match __gort_c{k}.into_result()"));
                let mut m = arm.pat.unwrap_or_else(|| code("_"));
                m.extend(code("=>"));
                m.extend(body);
                inner.extend(brace(m));
                match_arms.extend(code(&format!("{k}usize =>")));
                match_arms.extend(brace(inner));
                k += 1;
            }
            ArmKind::After(_) => {
                match_arms.extend(code("::gort::__private::AFTER =>"));
                match_arms.extend(body);
            }
            ArmKind::Default => {
                match_arms.extend(code("::gort::__private::DEFAULT =>"));
                match_arms.extend(body);
            }
        }
    }
    debug_assert_eq!(k, channel_arms.len());
    match_arms.extend(code("_ => ::core::unreachable!(\"select!: no such arm\"),"));
    out.extend(code("match __gort_won"));
    out.extend(brace(match_arms));
    brace(out)
}

fn spanned_error(span: Span, msg: &str) -> TokenStream {
    let mut ts: TokenStream = "::core::compile_error!".parse().unwrap();
    let mut lit: TokenStream = format!("{msg:?}").parse().unwrap();
    lit = lit
        .into_iter()
        .map(|mut t| {
            t.set_span(span);
            t
        })
        .collect();
    let mut g = Group::new(Delimiter::Parenthesis, lit);
    g.set_span(span);
    ts.extend([TokenTree::Group(g)]);
    ts.extend(";".parse::<TokenStream>().unwrap());
    // In expression position: wrap in a block.
    brace(ts)
}
