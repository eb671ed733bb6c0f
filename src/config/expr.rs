//! Expressions of one variable for `lr_lambda` and `scale_fn`, parsed once by
//! [evalexpr](https://docs.rs/evalexpr) and compiled into a small float-only
//! tree: every number is an `f64` (`epoch / 30` at epoch 15 is 0.5, and so is
//! `1 / 2`), and evaluation allocates nothing.

use std::f64::consts::PI;
use std::sync::Arc;

use evalexpr::{Node, Operator, Value};

use crate::error::{Error, Result};
use crate::schedulers::pymath::{div, pow};

/// A compiled expression in one variable.
#[derive(Clone, Debug)]
pub struct Expr {
    source: String,
    root: Arc<Term>,
}

#[derive(Debug)]
enum Term {
    Num(f64),
    Var,
    Neg(Box<Term>),
    Bin(BinOp, Box<Term>, Box<Term>),
    Call(Func, Vec<Term>),
}

#[derive(Clone, Copy, Debug)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

#[derive(Clone, Copy, Debug)]
enum Func {
    Min,
    Max,
    Exp,
    Ln,
    Sqrt,
    Cos,
    Sin,
    Floor,
    Abs,
}

const FUNCS: [(&str, Func, usize); 9] = [
    ("min", Func::Min, 2),
    ("max", Func::Max, 2),
    ("exp", Func::Exp, 1),
    ("ln", Func::Ln, 1),
    ("sqrt", Func::Sqrt, 1),
    ("cos", Func::Cos, 1),
    ("sin", Func::Sin, 1),
    ("floor", Func::Floor, 1),
    ("abs", Func::Abs, 1),
];

/// What an expression may contain, for error messages.
pub const GRAMMAR: &str = "numbers, the variable, + - * / % ^ ** (power), unary minus, parentheses, \
     pi, and min(a, b), max(a, b), exp, ln, sqrt, cos, sin, floor, abs";

impl Expr {
    /// Parses `source`, an expression in the variable `var` (`epoch` or `x`).
    ///
    /// # Errors
    /// A message naming what is wrong and what is allowed.
    pub fn parse(source: &str, var: &str) -> Result<Self, String> {
        let text = source.replace("**", "^");
        let node = evalexpr::build_operator_tree(&text).map_err(|e| format!("cannot parse `{source}`: {e}"))?;
        let root = compile(&node, var).map_err(|e| format!("in `{source}`: {e}; an expression may use {GRAMMAR}"))?;
        Ok(Expr { source: source.to_string(), root: Arc::new(root) })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates at `v`.
    pub fn eval(&self, v: f64) -> Result<f64> {
        eval(&self.root, v)
    }
}

fn compile(node: &Node, var: &str) -> Result<Term, String> {
    let kids = node.children();
    let bin = |op| -> Result<Term, String> {
        match kids {
            [a, b] => Ok(Term::Bin(op, Box::new(compile(a, var)?), Box::new(compile(b, var)?))),
            _ => Err("malformed operator".into()),
        }
    };
    match node.operator() {
        Operator::RootNode => match kids {
            [one] => compile(one, var),
            [] => Err("empty expression".into()),
            _ => Err("more than one expression".into()),
        },
        Operator::Add => bin(BinOp::Add),
        Operator::Sub => bin(BinOp::Sub),
        Operator::Mul => bin(BinOp::Mul),
        Operator::Div => bin(BinOp::Div),
        Operator::Mod => bin(BinOp::Mod),
        Operator::Exp => bin(BinOp::Pow),
        Operator::Neg => match kids {
            [a] => Ok(Term::Neg(Box::new(compile(a, var)?))),
            _ => Err("malformed minus".into()),
        },
        Operator::Const { value: Value::Int(i) } => Ok(Term::Num(*i as f64)),
        Operator::Const { value: Value::Float(f) } => Ok(Term::Num(*f)),
        Operator::Const { value } => Err(format!("`{value}` is not a number")),
        Operator::VariableIdentifierRead { identifier } if identifier == var => Ok(Term::Var),
        Operator::VariableIdentifierRead { identifier } if identifier == "pi" => Ok(Term::Num(PI)),
        Operator::VariableIdentifierRead { identifier } => {
            Err(format!("unknown name `{identifier}` (the variable is `{var}`)"))
        }
        Operator::FunctionIdentifier { identifier } => {
            let Some(&(_, func, arity)) = FUNCS.iter().find(|(n, _, _)| n == identifier) else {
                return Err(format!("unknown function `{identifier}`"));
            };
            let args: Vec<&Node> = match kids {
                [one] if matches!(one.operator(), Operator::Tuple) => one.children().iter().collect(),
                [one] if matches!(one.operator(), Operator::RootNode) => match one.children() {
                    [t] if matches!(t.operator(), Operator::Tuple) => t.children().iter().collect(),
                    _ => vec![one],
                },
                other => other.iter().collect(),
            };
            if args.len() != arity {
                return Err(format!("{identifier} takes {arity} argument(s), got {}", args.len()));
            }
            Ok(Term::Call(func, args.into_iter().map(|a| compile(a, var)).collect::<Result<_, _>>()?))
        }
        other => Err(format!("operator `{other}` is not allowed")),
    }
}

fn eval(t: &Term, v: f64) -> Result<f64> {
    Ok(match t {
        Term::Num(n) => *n,
        Term::Var => v,
        Term::Neg(a) => -eval(a, v)?,
        Term::Bin(op, a, b) => {
            let (a, b) = (eval(a, v)?, eval(b, v)?);
            match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => div(a, b)?,
                BinOp::Mod => {
                    if b == 0.0 {
                        return Err(Error::ZeroDivision("float modulo"));
                    }
                    let r = a % b;
                    if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
                        r + b
                    } else {
                        r
                    }
                }
                BinOp::Pow => pow(a, b)?,
            }
        }
        Term::Call(f, args) => {
            let x = eval(&args[0], v)?;
            let domain = |ok: bool, y: f64| if ok { Ok(y) } else { Err(Error::value("math domain error")) };
            match f {
                Func::Min => {
                    let y = eval(&args[1], v)?;
                    if y < x {
                        y
                    } else {
                        x
                    }
                }
                Func::Max => {
                    let y = eval(&args[1], v)?;
                    if y > x {
                        y
                    } else {
                        x
                    }
                }
                Func::Exp => {
                    let y = x.exp();
                    if y.is_infinite() && x.is_finite() {
                        return Err(Error::Overflow("math range error"));
                    }
                    y
                }
                Func::Ln => domain(x > 0.0 || x.is_nan(), x.ln())?,
                Func::Sqrt => domain(x >= 0.0 || x.is_nan(), x.sqrt())?,
                Func::Cos => domain(!x.is_infinite(), x.cos())?,
                Func::Sin => domain(!x.is_infinite(), x.sin())?,
                Func::Floor => {
                    if x.is_nan() {
                        return Err(Error::value("cannot convert float NaN to integer"));
                    }
                    if x.is_infinite() {
                        return Err(Error::Overflow("cannot convert float infinity to integer"));
                    }
                    x.floor()
                }
                Func::Abs => x.abs(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::Expr;

    fn at(src: &str, v: f64) -> f64 {
        Expr::parse(src, "epoch").unwrap().eval(v).unwrap()
    }

    #[test]
    fn errors_are_pythons() {
        let err = |src: &str, v: f64| Expr::parse(src, "epoch").unwrap().eval(v).unwrap_err().to_string();
        assert!(err("1 / (epoch - 2)", 2.0).contains("float division by zero"));
        assert!(err("epoch % 0", 2.0).contains("float modulo"));
        assert_eq!(err("ln(epoch)", 0.0), "math domain error");
        assert_eq!(err("sqrt(epoch - 3)", 0.0), "math domain error");
        assert!(err("exp(epoch * 100)", 8.0).contains("math range error"));
        assert!(err("0 ^ -epoch", 1.0).contains("0.0 cannot be raised to a negative power"));
    }

    #[test]
    fn arithmetic_is_floating_point() {
        assert_eq!(at("epoch / 30", 15.0), 0.5);
        assert_eq!(at("1 / 2", 0.0), 0.5);
        assert_eq!(at("0.95 ^ epoch", 2.0), 0.95f64.powf(2.0));
        assert_eq!(at("0.95 ** epoch", 2.0), 0.95f64.powf(2.0));
        assert_eq!(at("-epoch + 3", 1.0), 2.0);
        assert_eq!(at("epoch % 3", 7.0), 1.0);
        assert_eq!(at("min(1, (epoch + 1) / 5)", 1.0), 0.4);
        assert_eq!(at("max(0.1, 1 - epoch / 10)", 20.0), 0.1);
        assert_eq!(at("floor(epoch / 3)", 7.0), 2.0);
        assert_eq!(at("0.5 * (1 + cos(pi * epoch / 20))", 0.0), 1.0);
        assert_eq!(at("sqrt(abs(-4)) + ln(exp(1)) + sin(0)", 0.0), 3.0);
    }

    #[test]
    fn bad_expressions_are_errors() {
        for bad in ["", "epoch +", "foo * 2", "bar(1)", "min(1)", "epoch == 1", "a = 2", "\"s\"", "(1, 2)"] {
            assert!(Expr::parse(bad, "epoch").is_err(), "{bad}");
        }
    }
}
