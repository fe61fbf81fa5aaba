//! Changes a user asks for (YAML or shorthand), and how each compiles into phases.
