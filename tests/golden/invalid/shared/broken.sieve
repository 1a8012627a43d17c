# Helper for import_broken.sieve: a DSL file with a syntax error.
stage init = model.init(arch = "nano"
