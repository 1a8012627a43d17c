# fault: choose() with no case for the value
pipeline p {
  let profile = "huge"
  stage a = synth.arith(n = choose(profile, "quick", 10, "full", 100))
}
