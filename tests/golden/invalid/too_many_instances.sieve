# Sweeps are counted from their lists' lengths before anything is expanded: a billion
# cells (one huge range, or three lists of a thousand) are refused at once, with how to
# raise the limit (`--max-instances`).
pipeline too_many_instances {
  sweep x in 1..1_000_000_000 {
    stage one = synth.arith(n = 10, seed = x)
  }
  sweep a in 1..1000, b in 1..1000, c in 1..1000 {
    stage three = synth.arith(n = 10, seed = a + b + c)
  }
}
