//! The query string grammar of PostgREST 12 (`src/PostgREST/ApiRequest/QueryParams.hs`):
//! `select`, horizontal filters with their operators, `or`/`and` trees,
//! `order`, `limit`/`offset` (also per embedding), `columns` and `on_conflict`.
//!
//! The parser is a hand-written recursive descent over characters that follows
//! the Parsec grammar rule by rule, so the same strings are accepted and
//! rejected; failures become PGRST100 with PostgREST's message shape. Nothing
//! here knows the schema: names are resolved later, against the schema cache.

use std::collections::{BTreeSet, HashMap};

use crate::error::RestError;
use crate::range::Range;

/// The names of embeddings leading to a node, outermost first (`[]` is the root).
pub type EmbedPath = Vec<String>;

/// A column, possibly followed by JSON operators (`data->a->>b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub json_path: Vec<JsonStep>,
}

/// One `->` (`text: false`) or `->>` (`text: true`) step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonStep {
    pub text: bool,
    pub operand: JsonOperand,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonOperand {
    Key(String),
    Index(String),
}

/// An item of `select=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    /// `alias:column->path::cast`, or `*`. `aggregate` is set for `count()` and `col.sum()` forms.
    Field { field: Field, cast: Option<String>, alias: Option<String>, aggregate: bool },
    /// `alias:relation!hint!inner(items)`.
    Relation { name: String, alias: Option<String>, hint: Option<String>, inner: bool, children: Vec<SelectItem> },
    /// `...relation(items)`: spreading is parsed so it can be refused precisely.
    Spread { name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimpleOp {
    NotEqual,
    Contains,
    Contained,
    Overlap,
    StrictlyLeft,
    StrictlyRight,
    NotExtendsRight,
    NotExtendsLeft,
    Adjacent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantOp {
    Equal,
    GreaterThanEqual,
    GreaterThan,
    LessThanEqual,
    LessThan,
    Like,
    ILike,
    Match,
    IMatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    Any,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriVal {
    Null,
    Unknown,
    True,
    False,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtsOp {
    Fts,
    Plain,
    Phrase,
    Websearch,
}

/// What a filter does to its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Simple(SimpleOp, String),
    Quant(QuantOp, Option<Quantifier>, String),
    In(Vec<String>),
    Is(TriVal),
    IsDistinct(String),
    Fts(FtsOp, Option<String>, String),
}

/// `[not.]operation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpExpr {
    pub negated: bool,
    pub operation: Operation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: Field,
    pub op: OpExpr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicOp {
    And,
    Or,
}

/// `or=(a.eq.1,and(b.gt.2,c.lt.3))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogicTree {
    Expr { negated: bool, op: LogicOp, children: Vec<LogicTree> },
    Stmt(Filter),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    First,
    Last,
}

/// A term of `order=`: a column, or a column of a to-one embedding (`rel(col)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    pub relation: Option<String>,
    pub field: Field,
    pub direction: Option<Direction>,
    pub nulls: Option<Nulls>,
}

/// The query string of one request, parsed.
#[derive(Debug, Clone, Default)]
pub struct QueryParams {
    /// The parameters sorted by name, re-encoded (`Content-Location`).
    pub canonical: String,
    /// Operator-less parameters of a GET/HEAD RPC call: the function's arguments.
    pub rpc_args: Vec<(String, String)>,
    /// `limit`/`offset` per embed path (the root's key is `limit`).
    pub ranges: HashMap<String, Range>,
    pub order: Vec<(EmbedPath, Vec<OrderTerm>)>,
    pub logic: Vec<(EmbedPath, LogicTree)>,
    pub columns: Option<Vec<String>>,
    pub select: Vec<SelectItem>,
    pub filters: Vec<(EmbedPath, Filter)>,
    /// Every parameter name that is a filter (with or without an operator).
    pub filter_fields: BTreeSet<String>,
    pub on_conflict: Option<Vec<String>>,
}

const RESERVED: [&str; 3] = ["select", "columns", "on_conflict"];

fn last_word(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

impl QueryParams {
    /// Parse `query` (without `?`). `rpc_read` is a GET/HEAD RPC call, where a
    /// parameter whose value has no operator is an argument, not a filter.
    pub fn parse(query: &str, rpc_read: bool) -> Result<QueryParams, RestError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let mut sorted = pairs.clone();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let canonical = form_urlencoded::Serializer::new(String::new()).extend_pairs(sorted.iter()).finish();

        let lookup = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let mut params = QueryParams { canonical, ..QueryParams::default() };
        params.select = parse_select(lookup("select").unwrap_or("*"))?;
        if let Some(columns) = lookup("columns") {
            params.columns = Some(parse_columns("columns parameter", columns)?);
        }
        if let Some(on_conflict) = lookup("on_conflict") {
            params.on_conflict = Some(parse_columns("on_conflict parameter", on_conflict)?);
        }

        let mut limits: Vec<(String, Range)> = Vec::new();
        let mut offsets: HashMap<String, Range> = HashMap::new();
        for (key, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            match last_word(key) {
                "order" => params.order.push(parse_order(key, value)?),
                "and" | "or" => params.logic.push(parse_logic(key, value)?),
                "limit" => limits.push((key.clone(), Range::all().restrict(value.parse::<i64>().ok()))),
                "offset" => {
                    let limit_key = match key.rsplit_once('.') {
                        Some((path, _)) => format!("{path}.limit"),
                        None => "limit".to_owned(),
                    };
                    offsets.insert(limit_key, value.parse::<i64>().map(Range::from_offset).unwrap_or_else(|_| Range::all()));
                }
                _ if RESERVED.contains(&key.as_str()) => {}
                _ => {
                    params.filter_fields.insert(key.clone());
                    let (path, field) = parse_tree_path(key)?;
                    match parse_filter_value(value, rpc_read)? {
                        Some(op) => params.filters.push((path, Filter { field, op })),
                        None if path.is_empty() => params.rpc_args.push((field.name, value.clone())),
                        None => {}
                    }
                }
            }
        }
        for (key, limit) in limits {
            let range = match offsets.remove(&key) {
                Some(offset) => Range::window(offset.lower, limit.limit().unwrap_or(0)),
                None => limit,
            };
            params.ranges.insert(key, range);
        }
        params.ranges.extend(offsets);
        Ok(params)
    }
}

/// The embed path of a `limit`/`order`/`and`/`or` key (`rel.sub.limit` → `[rel, sub]`).
pub fn key_path(key: &str) -> Result<EmbedPath, RestError> {
    let path = match key.rsplit_once('.') {
        Some((path, _)) => path,
        None => return Ok(Vec::new()),
    };
    let mut parser = Parser::new(path, "tree path");
    let names = parser.sep_by1(|p| p.field_name(), |p| p.char('.'))?;
    parser.eof()?;
    Ok(names)
}

fn parse_tree_path(key: &str) -> Result<(EmbedPath, Field), RestError> {
    let mut parser = Parser::new(key, "tree path");
    let mut names = parser.sep_by1(|p| p.field_name(), |p| p.char('.'))?;
    let json_path = parser.json_path()?;
    parser.eof()?;
    let name = names.pop().unwrap_or_default();
    Ok((names, Field { name, json_path }))
}

fn parse_filter_value(value: &str, rpc_read: bool) -> Result<Option<OpExpr>, RestError> {
    let mut parser = Parser::new(value, "filter");
    match parser.op_expr(false) {
        Ok(op) => Ok(Some(op)),
        Err(_) if rpc_read => Ok(None),
        Err(err) => Err(err),
    }
}

fn parse_order(key: &str, value: &str) -> Result<(EmbedPath, Vec<OrderTerm>), RestError> {
    let path = key_path(key)?;
    let mut parser = Parser::new(value, "order");
    let terms = parser.sep_by1(|p| p.lexeme(|p| p.order_term()), |p| p.char(','))?;
    parser.eof()?;
    Ok((path, terms))
}

fn parse_logic(key: &str, value: &str) -> Result<(EmbedPath, LogicTree), RestError> {
    let mut words: Vec<&str> = key.split('.').collect();
    let op = words.pop().unwrap_or_default();
    let negated = words.contains(&"not");
    let path: Vec<String> = words.into_iter().filter(|w| *w != "not").map(str::to_owned).collect();
    let text = format!("{}{op}{value}", if negated { "not." } else { "" });
    let mut parser = Parser::new(&text, "logic tree");
    parser.display = value.to_owned();
    let tree = parser.logic_tree()?;
    parser.eof()?;
    Ok((path, tree))
}

fn parse_select(value: &str) -> Result<Vec<SelectItem>, RestError> {
    let mut parser = Parser::new(value, "select parameter");
    let items = parser.field_forest()?;
    parser.eof()?;
    Ok(items)
}

fn parse_columns(what: &'static str, value: &str) -> Result<Vec<String>, RestError> {
    let mut parser = Parser::new(value, what);
    let columns = parser.sep_by1(|p| p.field_name(), |p| p.lexeme(|p| p.char(',')))?;
    parser.eof()?;
    Ok(columns)
}

/// A cursor over the characters of one parameter, producing PostgREST-shaped errors.
struct Parser {
    chars: Vec<char>,
    pos: usize,
    what: &'static str,
    /// The text quoted in error messages (the parameter value as sent).
    display: String,
    /// Open parentheses of embeddings or logic trees: bounded, so a hostile
    /// query string cannot recurse the server's stack away.
    depth: usize,
}

/// How deep embeddings and `and`/`or` trees may nest.
const MAX_DEPTH: usize = 32;

type Parsed<T> = Result<T, RestError>;

fn is_identifier_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == ' ' || c == '$'
}

impl Parser {
    fn new(input: &str, what: &'static str) -> Parser {
        Parser { chars: input.chars().collect(), pos: 0, what, display: input.to_owned(), depth: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn rest_starts_with(&self, s: &str) -> bool {
        (self.pos..).zip(s.chars()).all(|(i, c)| self.chars.get(i) == Some(&c))
    }

    fn fail<T>(&self, expecting: &str) -> Parsed<T> {
        let unexpected = match self.peek() {
            Some(c) => format!("unexpected \"{c}\""),
            None => "unexpected end of input".to_owned(),
        };
        Err(RestError::parse(self.what, &self.display, self.pos + 1, format!("{unexpected} expecting {expecting}")))
    }

    fn eof(&self) -> Parsed<()> {
        if self.pos == self.chars.len() {
            Ok(())
        } else {
            self.fail("end of input")
        }
    }

    fn char(&mut self, c: char) -> Parsed<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.fail(&format!("\"{c}\""))
        }
    }

    fn string(&mut self, s: &str) -> bool {
        if self.rest_starts_with(s) {
            self.pos += s.chars().count();
            true
        } else {
            false
        }
    }

    fn spaces(&mut self) {
        while matches!(self.peek(), Some(' ') | Some('\t')) {
            self.pos += 1;
        }
    }

    fn lexeme<T>(&mut self, inner: impl FnOnce(&mut Self) -> Parsed<T>) -> Parsed<T> {
        self.spaces();
        let value = inner(self)?;
        self.spaces();
        Ok(value)
    }

    /// Run `inner`; on failure, rewind (Parsec's `try`).
    fn attempt<T>(&mut self, inner: impl FnOnce(&mut Self) -> Parsed<T>) -> Option<T> {
        let start = self.pos;
        match inner(self) {
            Ok(value) => Some(value),
            Err(_) => {
                self.pos = start;
                None
            }
        }
    }

    fn sep_by1<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Parsed<T>,
        mut sep: impl FnMut(&mut Self) -> Parsed<()>,
    ) -> Parsed<Vec<T>> {
        let mut items = vec![item(self)?];
        loop {
            let start = self.pos;
            if sep(self).is_err() {
                self.pos = start;
                return Ok(items);
            }
            items.push(item(self)?);
        }
    }

    /// `"quoted \" value"`.
    fn quoted_value(&mut self) -> Parsed<String> {
        self.char('"')?;
        let mut value = String::new();
        loop {
            match self.peek() {
                None => return self.fail("\"\\\"\""),
                Some('"') => {
                    self.pos += 1;
                    return Ok(value);
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) => {
                            value.push(c);
                            self.pos += 1;
                        }
                        None => return self.fail("any character"),
                    }
                }
                Some(c) => {
                    value.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn identifier(&mut self) -> Parsed<String> {
        let start = self.pos;
        while self.peek().is_some_and(is_identifier_char) {
            self.pos += 1;
        }
        if self.pos == start {
            return self.fail("field name (* or [a..z0..9_$])");
        }
        Ok(self.chars[start..self.pos].iter().collect::<String>().trim().to_owned())
    }

    /// Identifiers joined by `-` (a `-` not followed by `>`).
    fn sep_by_dash(&mut self, mut part: impl FnMut(&mut Self) -> Parsed<String>) -> Parsed<String> {
        let mut parts = vec![part(self)?];
        while self.peek() == Some('-') && self.chars.get(self.pos + 1) != Some(&'>') {
            self.pos += 1;
            parts.push(part(self)?);
        }
        Ok(parts.join("-"))
    }

    fn field_name(&mut self) -> Parsed<String> {
        if self.peek() == Some('"') {
            return self.quoted_value();
        }
        self.sep_by_dash(|p| p.identifier())
    }

    fn json_path(&mut self) -> Parsed<Vec<JsonStep>> {
        let mut steps = Vec::new();
        loop {
            let text = if self.string("->>") {
                true
            } else if self.string("->") {
                false
            } else {
                return Ok(steps);
            };
            let operand = match self.attempt(|p| p.json_index()) {
                Some(index) => JsonOperand::Index(index),
                None => JsonOperand::Key(self.json_key()?),
            };
            steps.push(JsonStep { text, operand });
        }
    }

    fn json_index(&mut self) -> Parsed<String> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        let digits = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == digits {
            return self.fail("digit");
        }
        let at_end = self.pos == self.chars.len() || ["->", "::", ".", ","].iter().any(|s| self.rest_starts_with(s));
        if !at_end {
            return self.fail("end of index");
        }
        Ok(self.chars[start..self.pos].iter().collect())
    }

    fn json_key(&mut self) -> Parsed<String> {
        if self.peek() == Some('"') {
            return self.quoted_value();
        }
        self.sep_by_dash(|p| {
            let start = p.pos;
            while p.peek().is_some_and(|c| !"(-:.,>)".contains(c)) {
                p.pos += 1;
            }
            if p.pos == start {
                return p.fail("any non reserved character different from: .,>()");
            }
            Ok(p.chars[start..p.pos].iter().collect::<String>().trim().to_owned())
        })
    }

    fn field(&mut self) -> Parsed<Field> {
        self.lexeme(|p| {
            let name = p.field_name()?;
            let json_path = p.json_path()?;
            Ok(Field { name, json_path })
        })
    }

    /// `alias:` (a `:` not followed by another `:`).
    fn alias(&mut self) -> Option<String> {
        self.attempt(|p| {
            let name = p.field_name()?;
            p.char(':')?;
            if p.peek() == Some(':') {
                return p.fail("alias separator");
            }
            Ok(name)
        })
    }

    fn at_item_end(&self) -> bool {
        matches!(self.peek(), None | Some(')') | Some(','))
    }

    /// Enter one more level of parentheses, or fail past [`MAX_DEPTH`].
    fn nest<T>(&mut self, inner: impl FnOnce(&mut Self) -> Parsed<T>) -> Parsed<T> {
        if self.depth >= MAX_DEPTH {
            return self.fail(&format!("at most {MAX_DEPTH} levels of nesting"));
        }
        self.depth += 1;
        let value = inner(self);
        self.depth -= 1;
        value
    }

    fn field_forest(&mut self) -> Parsed<Vec<SelectItem>> {
        let mut items = Vec::new();
        if self.at_item_end() && self.peek() != Some(',') {
            return Ok(items);
        }
        loop {
            self.spaces();
            items.push(self.field_tree()?);
            self.spaces();
            if self.peek() == Some(',') {
                self.pos += 1;
            } else {
                return Ok(items);
            }
        }
    }

    fn field_tree(&mut self) -> Parsed<SelectItem> {
        if let Some(name) = self.attempt(|p| {
            if !p.string("...") {
                return p.fail("\"...\"");
            }
            let name = p.field_name()?;
            p.embed_params()?;
            if p.peek() != Some('(') {
                return p.fail("\"(\"");
            }
            Ok(name)
        }) {
            self.char('(')?;
            self.nest(|p| p.field_forest())?;
            self.char(')')?;
            return Ok(SelectItem::Spread { name });
        }
        if let Some((alias, name, hint, inner)) = self.attempt(|p| {
            p.spaces();
            let alias = p.alias();
            let name = p.field_name()?;
            if name == "count" {
                return p.fail("relation");
            }
            let (hint, inner) = p.embed_params()?;
            if p.peek() != Some('(') {
                return p.fail("\"(\"");
            }
            Ok((alias, name, hint, inner))
        }) {
            self.char('(')?;
            let children = self.nest(|p| p.field_forest())?;
            self.char(')')?;
            return Ok(SelectItem::Relation { name, alias, hint, inner, children });
        }
        self.field_select()
    }

    fn embed_params(&mut self) -> Parsed<(Option<String>, bool)> {
        let mut hint = None;
        let mut inner = None;
        for _ in 0..2 {
            if self.peek() != Some('!') {
                break;
            }
            self.pos += 1;
            if self.string("left") {
                inner = inner.or(Some(false));
            } else if self.string("inner") {
                inner = inner.or(Some(true));
            } else {
                let name = self.field_name()?;
                hint = hint.or(Some(name));
            }
        }
        Ok((hint, inner.unwrap_or(false)))
    }

    fn type_name(&mut self) -> Parsed<String> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ' ' || c == '$') {
            self.pos += 1;
        }
        if self.pos == start {
            return self.fail("letter or digit");
        }
        Ok(self.chars[start..self.pos].iter().collect::<String>().trim().to_owned())
    }

    fn field_select(&mut self) -> Parsed<SelectItem> {
        self.lexeme(|p| {
            if p.peek() == Some('*') {
                p.pos += 1;
                if !p.at_item_end() {
                    return p.fail("\")\", \",\" or end of input");
                }
                return Ok(SelectItem::Field {
                    field: Field { name: "*".into(), json_path: vec![] },
                    cast: None,
                    alias: None,
                    aggregate: false,
                });
            }
            if let Some(alias) = p.attempt(|p| {
                let alias = p.alias();
                if !p.string("count()") {
                    return p.fail("count()");
                }
                if p.string("::") {
                    p.type_name()?;
                }
                if !p.at_item_end() {
                    return p.fail("end");
                }
                Ok(alias)
            }) {
                return Ok(SelectItem::Field {
                    field: Field { name: "*".into(), json_path: vec![] },
                    cast: None,
                    alias,
                    aggregate: true,
                });
            }
            let alias = p.alias();
            let field = p.field()?;
            let cast = if p.string("::") { Some(p.type_name()?) } else { None };
            let aggregate = p
                .attempt(|p| {
                    p.char('.')?;
                    if ["sum", "avg", "count", "max", "min"].iter().any(|agg| p.string(agg)) && p.string("()") {
                        Ok(())
                    } else {
                        p.fail("aggregate")
                    }
                })
                .is_some();
            if aggregate && p.string("::") {
                p.type_name()?;
            }
            if !p.at_item_end() {
                return p.fail("letter, digit, \"-\", \"->>\", \"->\", \"::\", \".\", \")\", \",\" or end of input");
            }
            Ok(SelectItem::Field { field, cast, alias, aggregate })
        })
    }

    fn order_term(&mut self) -> Parsed<OrderTerm> {
        let relation = self.attempt(|p| {
            let name = p.field_name()?;
            p.char('(')?;
            let field = p.field()?;
            p.char(')')?;
            Ok((name, field))
        });
        let (relation, field) = match relation {
            Some((name, field)) => (Some(name), field),
            None => (None, self.field()?),
        };
        let direction = if self.rest_starts_with(".asc") {
            self.pos += 4;
            Some(Direction::Asc)
        } else if self.rest_starts_with(".desc") {
            self.pos += 5;
            Some(Direction::Desc)
        } else {
            None
        };
        let nulls = if self.rest_starts_with(".nullsfirst") {
            self.pos += 11;
            Some(Nulls::First)
        } else if self.rest_starts_with(".nullslast") {
            self.pos += 10;
            Some(Nulls::Last)
        } else {
            None
        };
        if !matches!(self.peek(), None | Some(',')) {
            let expecting = match (direction, nulls) {
                (None, None) if self.peek() == Some('.') => {
                    self.pos += 1;
                    "\"asc\", \"desc\", \"nullsfirst\" or \"nullslast\""
                }
                (Some(_), None) if self.peek() == Some('.') => {
                    self.pos += 1;
                    "\"nullsfirst\" or \"nullslast\""
                }
                _ => "\",\" or end of input",
            };
            return self.fail(expecting);
        }
        Ok(OrderTerm { relation, field, direction, nulls })
    }

    fn op_expr(&mut self, in_logic: bool) -> Parsed<OpExpr> {
        let negated = self.string("not.");
        let operation = self.operation(in_logic)?;
        if !in_logic {
            self.eof()?;
        }
        Ok(OpExpr { negated, operation })
    }

    fn value(&mut self, in_logic: bool) -> Parsed<String> {
        if !in_logic {
            let value: String = self.chars[self.pos..].iter().collect();
            self.pos = self.chars.len();
            return Ok(value);
        }
        if let Some(quoted) = self.attempt(|p| {
            let value = p.quoted_value()?;
            if p.at_item_end() {
                Ok(value)
            } else {
                p.fail("\",\" or \")\"")
            }
        }) {
            return Ok(quoted);
        }
        if let Some(array) = self.attempt(|p| {
            p.char('{')?;
            let start = p.pos;
            while p.peek().is_some_and(|c| c != '{' && c != '}') {
                p.pos += 1;
            }
            let inside: String = p.chars[start..p.pos].iter().collect();
            p.char('}')?;
            Ok(format!("{{{inside}}}"))
        }) {
            return Ok(array);
        }
        let start = self.pos;
        while self.peek().is_some_and(|c| c != ',' && c != ')') {
            self.pos += 1;
        }
        Ok(self.chars[start..self.pos].iter().collect())
    }

    fn operation(&mut self, in_logic: bool) -> Parsed<Operation> {
        const EXPECTING: &str = "operator (eq, gt, ...)";
        if self.string("in.") {
            return Ok(Operation::In(self.list()?));
        }
        if self.string("is.") {
            for (word, value) in [("null", TriVal::Null), ("unknown", TriVal::Unknown), ("true", TriVal::True), ("false", TriVal::False)] {
                let end = self.pos + word.len();
                if end <= self.chars.len()
                    && self.chars[self.pos..end].iter().collect::<String>().eq_ignore_ascii_case(word)
                {
                    self.pos = end;
                    return Ok(Operation::Is(value));
                }
            }
            return self.fail("null or trilean value (unknown, true, false)");
        }
        if self.string("isdistinct.") {
            return Ok(Operation::IsDistinct(self.value(in_logic)?));
        }
        for (word, op) in [("fts", FtsOp::Fts), ("plfts", FtsOp::Plain), ("phfts", FtsOp::Phrase), ("wfts", FtsOp::Websearch)] {
            if let Some(operation) = self.attempt(|p| {
                if !p.string(word) {
                    return p.fail(EXPECTING);
                }
                let language = p.attempt(|p| {
                    p.char('(')?;
                    let language = p.type_name()?;
                    p.char(')')?;
                    Ok(language)
                });
                p.char('.')?;
                Ok(Operation::Fts(op, language, p.value(in_logic)?))
            }) {
                return Ok(operation);
            }
        }
        let simple = [
            ("neq", SimpleOp::NotEqual),
            ("cs", SimpleOp::Contains),
            ("cd", SimpleOp::Contained),
            ("ov", SimpleOp::Overlap),
            ("sl", SimpleOp::StrictlyLeft),
            ("sr", SimpleOp::StrictlyRight),
            ("nxr", SimpleOp::NotExtendsRight),
            ("nxl", SimpleOp::NotExtendsLeft),
            ("adj", SimpleOp::Adjacent),
        ];
        for (word, op) in simple {
            if self.rest_starts_with(&format!("{word}.")) {
                self.pos += word.len() + 1;
                return Ok(Operation::Simple(op, self.value(in_logic)?));
            }
        }
        let quantified = [
            ("eq", QuantOp::Equal),
            ("gte", QuantOp::GreaterThanEqual),
            ("gt", QuantOp::GreaterThan),
            ("lte", QuantOp::LessThanEqual),
            ("lt", QuantOp::LessThan),
            ("like", QuantOp::Like),
            ("ilike", QuantOp::ILike),
            ("match", QuantOp::Match),
            ("imatch", QuantOp::IMatch),
        ];
        for (word, op) in quantified {
            if let Some(operation) = self.attempt(|p| {
                if !p.string(word) {
                    return p.fail(EXPECTING);
                }
                let quantifier = if p.string("(any)") {
                    Some(Quantifier::Any)
                } else if p.string("(all)") {
                    Some(Quantifier::All)
                } else {
                    None
                };
                p.char('.')?;
                Ok(Operation::Quant(op, quantifier, p.value(in_logic)?))
            }) {
                return Ok(operation);
            }
        }
        self.fail(&format!("\"not\" or {EXPECTING}"))
    }

    /// `(a,"b,c",d)`.
    fn list(&mut self) -> Parsed<Vec<String>> {
        self.lexeme(|p| p.char('('))?;
        let items = self.sep_by1(
            |p| {
                if let Some(quoted) = p.attempt(|p| {
                    let value = p.quoted_value()?;
                    if matches!(p.peek(), Some(',') | Some(')')) {
                        Ok(value)
                    } else {
                        p.fail("\",\" or \")\"")
                    }
                }) {
                    return Ok(quoted);
                }
                let start = p.pos;
                while p.peek().is_some_and(|c| c != ',' && c != ')') {
                    p.pos += 1;
                }
                Ok(p.chars[start..p.pos].iter().collect())
            },
            |p| p.char(','),
        )?;
        self.lexeme(|p| p.char(')'))?;
        Ok(items)
    }

    fn logic_tree(&mut self) -> Parsed<LogicTree> {
        if let Some(filter) = self.attempt(|p| {
            let field = p.field()?;
            p.char('.')?;
            let op = p.op_expr(true)?;
            Ok(Filter { field, op })
        }) {
            return Ok(LogicTree::Stmt(filter));
        }
        let negated = self.string("not.");
        let op = if self.string("and") {
            LogicOp::And
        } else if self.string("or") {
            LogicOp::Or
        } else {
            return self.fail("logic operator (and, or)");
        };
        self.lexeme(|p| p.char('('))?;
        let children = self.nest(|p| p.sep_by1(|p| p.logic_tree(), |p| p.lexeme(|p| p.char(','))))?;
        self.lexeme(|p| p.char(')'))?;
        Ok(LogicTree::Expr { negated, op, children })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str) -> Field {
        Field { name: name.into(), json_path: vec![] }
    }

    fn filters(query: &str) -> Vec<(EmbedPath, Filter)> {
        QueryParams::parse(query, false).unwrap().filters
    }

    fn error(query: &str) -> serde_json::Value {
        QueryParams::parse(query, false).unwrap_err().body()
    }

    #[test]
    fn select_parses_aliases_casts_json_paths_and_embeddings() {
        let params = QueryParams::parse("select=id,t:custom_title,size:file_size_bytes::text,generation_settings->>aspect_ratio,user_collections!inner(name)", false).unwrap();
        assert_eq!(params.select.len(), 5);
        assert_eq!(params.select[1], SelectItem::Field { field: field("custom_title"), cast: None, alias: Some("t".into()), aggregate: false });
        assert_eq!(params.select[2], SelectItem::Field { field: field("file_size_bytes"), cast: Some("text".into()), alias: Some("size".into()), aggregate: false });
        match &params.select[3] {
            SelectItem::Field { field, .. } => {
                assert_eq!(field.json_path, vec![JsonStep { text: true, operand: JsonOperand::Key("aspect_ratio".into()) }])
            }
            other => panic!("{other:?}"),
        }
        match &params.select[4] {
            SelectItem::Relation { name, inner, children, .. } => {
                assert_eq!(name, "user_collections");
                assert!(inner);
                assert_eq!(children.len(), 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_default_select_is_star() {
        let params = QueryParams::parse("", false).unwrap();
        assert!(matches!(&params.select[..], [SelectItem::Field { field, .. }] if field.name == "*"));
    }

    #[test]
    fn filters_take_every_operator_and_negation() {
        let parsed = filters("a=eq.1&b=not.in.(x,\"y,z\")&c=is.NULL&d=fts(english).fox&e=cs.{a,b}&f=like(any).{a*,b*}&g=isdistinct.3");
        let ops: Vec<&OpExpr> = parsed.iter().map(|(_, f)| &f.op).collect();
        assert_eq!(ops[0].operation, Operation::Quant(QuantOp::Equal, None, "1".into()));
        assert!(ops[1].negated);
        assert_eq!(ops[1].operation, Operation::In(vec!["x".into(), "y,z".into()]));
        assert_eq!(ops[2].operation, Operation::Is(TriVal::Null));
        assert_eq!(ops[3].operation, Operation::Fts(FtsOp::Fts, Some("english".into()), "fox".into()));
        assert_eq!(ops[4].operation, Operation::Simple(SimpleOp::Contains, "{a,b}".into()));
        assert_eq!(ops[5].operation, Operation::Quant(QuantOp::Like, Some(Quantifier::Any), "{a*,b*}".into()));
        assert_eq!(ops[6].operation, Operation::IsDistinct("3".into()));
    }

    #[test]
    fn embedded_filters_carry_their_path() {
        let parsed = filters("user_collections.name=eq.Favourites");
        assert_eq!(parsed[0].0, vec!["user_collections".to_string()]);
        assert_eq!(parsed[0].1.field, field("name"));
    }

    #[test]
    fn an_unknown_operator_is_pgrst100() {
        let body = error("id=noop.1");
        assert_eq!(body["code"], "PGRST100");
        assert_eq!(body["message"], "\"failed to parse filter (noop.1)\" (line 1, column 1)");
    }

    #[test]
    fn logic_trees_nest() {
        let params = QueryParams::parse("or=(a.eq.1,and(b.gt.2,c.not.is.null))&not.and=(d.eq.\"x,y\",e.cs.{1,2})", false).unwrap();
        let (_, tree) = &params.logic[0];
        match tree {
            LogicTree::Expr { negated: false, op: LogicOp::Or, children } => {
                assert_eq!(children.len(), 2);
                assert!(matches!(&children[1], LogicTree::Expr { op: LogicOp::And, children, .. } if children.len() == 2));
            }
            other => panic!("{other:?}"),
        }
        match &params.logic[1].1 {
            LogicTree::Expr { negated: true, op: LogicOp::And, children } => match &children[0] {
                LogicTree::Stmt(Filter { op, .. }) => assert_eq!(op.operation, Operation::Quant(QuantOp::Equal, None, "x,y".into())),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_logic_trees_are_pgrst100() {
        for query in ["or=(a.eq.1", "or=()", "or=(a.xx.1)", "or=(a.eq.1,not.xor(b.eq.2))"] {
            assert_eq!(error(query)["code"], "PGRST100", "{query}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep_select = format!("select={}x{}", "a(".repeat(5000), ")".repeat(5000));
        assert_eq!(error(&deep_select)["code"], "PGRST100");
        let deep_or = format!("or=({}a.eq.1{})", "or(".repeat(5000), ")".repeat(5000));
        assert_eq!(error(&deep_or)["code"], "PGRST100");
        let fine = format!("select={}x{}", "a(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(QueryParams::parse(&fine, false).is_ok());
    }

    #[test]
    fn order_terms_take_direction_and_nulls() {
        let params = QueryParams::parse("order=created_at.desc.nullslast,id,user_collections(name).asc", false).unwrap();
        let terms = &params.order[0].1;
        assert_eq!(terms[0].direction, Some(Direction::Desc));
        assert_eq!(terms[0].nulls, Some(Nulls::Last));
        assert_eq!(terms[1].direction, None);
        assert_eq!(terms[2].relation.as_deref(), Some("user_collections"));
        assert_eq!(error("order=id.ac")["code"], "PGRST100");
        assert_eq!(error("order=id.descc")["code"], "PGRST100");
    }

    #[test]
    fn limits_and_offsets_make_ranges_per_path() {
        let params = QueryParams::parse("limit=20&offset=40&user_collections.limit=2", false).unwrap();
        assert_eq!(params.ranges["limit"], Range::window(40, 20));
        assert_eq!(params.ranges["user_collections.limit"], Range::window(0, 2));
    }

    #[test]
    fn rpc_reads_take_operator_less_params_as_arguments() {
        let params = QueryParams::parse("page_size=20&status=eq.queued", true).unwrap();
        assert_eq!(params.rpc_args, vec![("page_size".to_string(), "20".to_string())]);
        assert_eq!(params.filters.len(), 1);
    }

    #[test]
    fn columns_and_on_conflict_are_lists_of_names() {
        let params = QueryParams::parse("columns=%22a%22,b&on_conflict=user_id,source_asset_id", false).unwrap();
        assert_eq!(params.columns, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(params.on_conflict, Some(vec!["user_id".to_string(), "source_asset_id".to_string()]));
    }

    #[test]
    fn canonical_query_is_sorted() {
        let params = QueryParams::parse("select=id&order=id&a=eq.1", false).unwrap();
        assert_eq!(params.canonical, "a=eq.1&order=id&select=id");
    }
}
