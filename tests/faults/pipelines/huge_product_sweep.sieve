# fault: one sweep over three variables, 1e12 cells
pipeline p {
  sweep a in 1..10_000, b in 1..10_000, c in 1..10_000 {
    stage g = synth.arith(n = 10, seed = a + b + c)
  }
}
