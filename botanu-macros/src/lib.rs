//! `#[workflow(…)]`: the Rust form of the reference SDK's `@botanu_workflow` decorator. Use it
//! through `botanu_core::workflow` (re-exported there); see that attribute's documentation.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::{quote, ToTokens};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{parse_macro_input, Expr, ItemFn, MetaNameValue, ReturnType, Token, Type};

const KEYS: &str = "name, event_id, customer_id, tenant_id, capture_input, crate";

/// Makes each call of the function one botanu run; see `botanu_core::workflow`.
#[proc_macro_attribute]
pub fn workflow(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = match Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse(args) {
        Ok(args) => args,
        Err(e) => {
            return syn::Error::new(
                e.span(),
                format!(
                    "#[workflow] takes `key = value` pairs ({KEYS}), e.g. #[workflow(name = \"Customer Support\", event_id = ticket.id)]"
                ),
            )
            .to_compile_error()
            .into()
        }
    };
    let func = parse_macro_input!(item as ItemFn);
    match expand(args, func) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(
    args: Punctuated<MetaNameValue, Token![,]>,
    func: ItemFn,
) -> syn::Result<proc_macro2::TokenStream> {
    let mut name: Option<Expr> = None;
    let mut krate: Option<syn::Path> = None;
    let mut setters = Vec::new();
    // `capture_input`: `Some(Some(b))` true/false, `Some(None)` sampled, `None` not given.
    let mut capture: Option<Option<bool>> = None;
    for arg in args {
        // `crate` is a keyword: not an identifier to `get_ident`.
        if arg.path.is_ident("crate") {
            let Expr::Path(p) = arg.value else {
                return Err(syn::Error::new_spanned(
                    &arg.value,
                    "`crate` takes the path botanu-core is reachable at, e.g. crate = botanu_axum::botanu_core",
                ));
            };
            krate = Some(p.path);
            continue;
        }
        let Some(key) = arg.path.get_ident().map(ToString::to_string) else {
            return Err(syn::Error::new_spanned(
                &arg.path,
                format!("expected one of: {KEYS}"),
            ));
        };
        let value = arg.value;
        match key.as_str() {
            "name" => {
                if name.is_some() {
                    return Err(syn::Error::new_spanned(&arg.path, "`name` is given twice"));
                }
                name = Some(value);
            }
            "capture_input" => {
                capture = Some(match &value {
                    Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Bool(b),
                        ..
                    }) => Some(b.value),
                    Expr::Path(p) if p.path.is_ident("sampled") => None,
                    _ => {
                        return Err(syn::Error::new_spanned(
                            &value,
                            "`capture_input` is `true` (every call), `sampled` (at BOTANU_CONTENT_CAPTURE_RATE) or `false`",
                        ))
                    }
                });
            }
            "event_id" | "customer_id" | "tenant_id" => {
                let method = syn::Ident::new(&key, Span::call_site());
                setters.push(quote! {
                    .#method(::std::string::ToString::to_string(&(#value)))
                });
            }
            other => {
                return Err(syn::Error::new_spanned(
                    &arg.path,
                    format!("unknown key `{other}` in #[workflow]: expected one of: {KEYS}"),
                ))
            }
        }
    }
    let Some(name) = name else {
        return Err(syn::Error::new(
            Span::call_site(),
            "#[workflow] needs a workflow name: #[workflow(name = \"Customer Support\", …)]",
        ));
    };

    let krate = krate.unwrap_or_else(|| syn::parse_quote!(::botanu_core));
    let version = code_version(&func.to_token_stream());

    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let is_result = returns_result(&sig.output);
    let annotated = match &sig.output {
        ReturnType::Type(_, ty) if !contains_impl(ty) => Some(ty.clone()),
        ReturnType::Default => Some(Box::new(syn::parse_quote!(()))),
        ReturnType::Type(..) => None,
    };
    let scope = quote! {
        #krate::workflow(#name)
            #(#setters)*
            .workflow_version(#version)
    };
    let capture = match capture {
        None | Some(Some(false)) => None,
        Some(mode) => Some(content_capture(
            &krate,
            &sig,
            mode,
            is_result,
            annotated.is_some(),
        )?),
    };
    let body = if sig.asyncness.is_some() {
        let run = if is_result {
            quote!(run)
        } else {
            quote!(run_any)
        };
        let inner = match (&annotated, &capture) {
            (Some(ty), Some((input, output))) => quote! {
                async move {
                    #input
                    let __botanu_out: #ty = (async move #block).await;
                    #output
                    __botanu_out
                }
            },
            (Some(ty), None) => {
                quote! { async move { let __botanu_out: #ty = #block; __botanu_out } }
            }
            (None, _) => quote! { async move #block },
        };
        quote! { #scope.#run(#inner).await }
    } else {
        let run = if is_result {
            quote!(run_sync)
        } else {
            quote!(run_sync_any)
        };
        let inner = match (&annotated, &capture) {
            (Some(ty), Some((input, output))) => quote! {
                move || -> #ty {
                    #input
                    let __botanu_out: #ty = (move || -> #ty #block)();
                    #output
                    __botanu_out
                }
            },
            (Some(ty), None) => quote! { move || -> #ty #block },
            (None, _) => quote! { move || #block },
        };
        quote! { #scope.#run(#inner) }
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    })
}

/// The statements that record the run's content (the reference's `capture_input`): the input
/// (the arguments by name, in their `Debug` form) before the body runs, the output (the `Ok`
/// value, or the value, in its `Debug` form) after it succeeds. One decision per call covers
/// both.
fn content_capture(
    krate: &syn::Path,
    sig: &syn::Signature,
    mode: Option<bool>,
    is_result: bool,
    annotated: bool,
) -> syn::Result<(proc_macro2::TokenStream, proc_macro2::TokenStream)> {
    if !annotated {
        return Err(syn::Error::new_spanned(
            &sig.output,
            "`capture_input` needs a named return type (not `impl Trait`): the output is recorded in its Debug form",
        ));
    }
    let names: Vec<&syn::Ident> = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            syn::FnArg::Typed(t) => match t.pat.as_ref() {
                syn::Pat::Ident(i) => Some(&i.ident),
                _ => None,
            },
            syn::FnArg::Receiver(_) => None,
        })
        .collect();
    let template = format!(
        "{{{{{}}}}}",
        names
            .iter()
            .map(|n| format!("\"{n}\": {{:?}}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mode = match mode {
        Some(b) => quote!(::core::option::Option::Some(#b)),
        None => quote!(::core::option::Option::None),
    };
    let input = quote! {
        let __botanu_capture = #krate::__private::capture_decision(#mode);
        if __botanu_capture {
            #krate::__private::record_run_input(&::std::format!(#template, #(&#names),*));
        }
    };
    let output = if is_result {
        quote! {
            if __botanu_capture {
                if let ::core::result::Result::Ok(__botanu_value) = &__botanu_out {
                    #krate::__private::record_run_output(&::std::format!("{:?}", __botanu_value));
                }
            }
        }
    } else {
        quote! {
            if __botanu_capture {
                #krate::__private::record_run_output(&::std::format!("{:?}", &__botanu_out));
            }
        }
    };
    Ok((input, output))
}

fn returns_result(output: &ReturnType) -> bool {
    match output {
        ReturnType::Type(_, ty) => match ty.as_ref() {
            Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
        ReturnType::Default => false,
    }
}

fn contains_impl(ty: &Type) -> bool {
    ty.to_token_stream()
        .into_iter()
        .any(|t| matches!(t, proc_macro2::TokenTree::Ident(ref i) if i == "impl"))
        || ty.to_token_stream().to_string().contains("impl ")
}

/// A version of the function's code, `v:` and 12 hex digits: FNV-1a over its tokens written in
/// a canonical form of its own (identifiers, punctuation, literals as written, delimiters), so
/// it changes when the code does and not when a toolchain prints tokens differently (values
/// differ from the Python SDK's SHA-256 of source text, which Rust cannot see at run time).
fn code_version(tokens: &proc_macro2::TokenStream) -> String {
    let mut canonical = String::new();
    canonical_tokens(tokens.clone(), &mut canonical);
    format!("v:{}", &format!("{:016x}", fnv1a(&canonical))[..12])
}

fn canonical_tokens(tokens: proc_macro2::TokenStream, out: &mut String) {
    use proc_macro2::{Delimiter, TokenTree};
    for token in tokens {
        match token {
            TokenTree::Ident(i) => {
                out.push_str(&i.to_string());
                out.push(' ');
            }
            TokenTree::Punct(p) => {
                // `&&` (one operator) and `& &` (two) differ in meaning: keep the spacing.
                out.push(p.as_char());
                if p.spacing() == proc_macro2::Spacing::Alone {
                    out.push(' ');
                }
            }
            TokenTree::Literal(l) => {
                out.push_str(&l.to_string());
                out.push(' ');
            }
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ('(', ')'),
                    Delimiter::Brace => ('{', '}'),
                    Delimiter::Bracket => ('[', ']'),
                    Delimiter::None => ('\u{2}', '\u{3}'),
                };
                out.push(open);
                canonical_tokens(g.stream(), out);
                out.push(close);
            }
        }
    }
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(code: &str) -> String {
        code_version(&code.parse().unwrap())
    }

    #[test]
    fn the_code_version_ignores_layout_and_follows_the_code() {
        let a = version("fn f(x: u32) -> u32 { x + 1 }");
        let b = version("fn f( x : u32 )->u32{\n    x+1\n}");
        assert_eq!(a, b, "whitespace is not code");
        assert_ne!(a, version("fn f(x: u32) -> u32 { x + 2 }"));
        assert_ne!(a, version("fn f(x: u32) -> u32 { (x + 1) }"));
        assert_ne!(version("fn f() { a && b }"), version("fn f() { a & &b }"));
        // Pinned: a change of this value changes every user's workflow versions.
        assert_eq!(a, "v:2a3b20402721");
    }

    #[test]
    fn the_crate_key_names_where_botanu_core_is() {
        let expand_with = |args: &str| {
            let args = Punctuated::<MetaNameValue, Token![,]>::parse_terminated
                .parse_str(args)
                .unwrap();
            let func: ItemFn =
                syn::parse_str("async fn digest() -> Result<(), E> { Ok(()) }").unwrap();
            expand(args, func).unwrap().to_string()
        };
        let default = expand_with(r#"name = "Digest""#);
        assert!(default.contains(":: botanu_core :: workflow"), "{default}");
        let through_axum = expand_with(r#"crate = botanu_axum::botanu_core, name = "Digest""#);
        assert!(
            through_axum.contains("botanu_axum :: botanu_core :: workflow"),
            "{through_axum}"
        );
        assert!(
            !through_axum.contains("{ :: botanu_core"),
            "no hard-coded path: {through_axum}"
        );
    }

    #[test]
    fn capture_input_takes_true_sampled_or_false() {
        let expand_with = |args: &str, func: &str| {
            let args = Punctuated::<MetaNameValue, Token![,]>::parse_terminated
                .parse_str(args)
                .unwrap();
            expand(args, syn::parse_str(func).unwrap()).map(|t| t.to_string())
        };
        let f = "async fn digest(ticket: &Ticket) -> Result<u32, E> { Ok(1) }";
        let always = expand_with(r#"name = "D", capture_input = true"#, f).unwrap();
        assert!(
            always.contains("capture_decision (:: core :: option :: Option :: Some (true))"),
            "{always}"
        );
        assert!(always.contains("record_run_output"), "{always}");
        let sampled = expand_with(r#"name = "D", capture_input = sampled"#, f).unwrap();
        assert!(
            sampled.contains("capture_decision (:: core :: option :: Option :: None)"),
            "{sampled}"
        );
        let off = expand_with(r#"name = "D", capture_input = false"#, f).unwrap();
        assert!(!off.contains("capture_decision"), "{off}");
        let bad = expand_with(r#"name = "D", capture_input = 3"#, f).unwrap_err();
        assert!(
            bad.to_string().contains("`capture_input` is `true`"),
            "{bad}"
        );
        let opaque = expand_with(
            r#"name = "D", capture_input = true"#,
            "async fn digest() -> impl std::fmt::Debug { 1 }",
        )
        .unwrap_err();
        assert!(opaque.to_string().contains("named return type"), "{opaque}");
    }
}
