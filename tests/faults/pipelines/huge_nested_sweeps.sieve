# fault: nested sweeps whose product is ten billion
pipeline p {
  sweep a in 1..100_000 {
    sweep b in 1..100_000 {
      stage g = synth.arith(n = 10, seed = a * b)
    }
  }
}
