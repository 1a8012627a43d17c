# helper: bare items to import
stage train = synth.arith(n = 10)
