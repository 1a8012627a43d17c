//! YAML front end (under construction).
