# helper: an imported file with a syntax error
stage x = synth.arith(n = 10
