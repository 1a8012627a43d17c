//! Front ends: the pest DSL ([`parser`]) and YAML ([`yaml`]) both produce one surface
//! [`ast::File`] whose nodes carry spans. Loading a pipeline resolves `import`s
//! recursively ([`load`]).

pub mod ast;
pub mod parser;
pub mod yaml;
