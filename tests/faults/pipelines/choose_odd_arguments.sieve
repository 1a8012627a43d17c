# fault: choose() with a case missing its value
pipeline p {
  let profile = "quick"
  stage a = synth.arith(n = choose(profile, "quick", 10, "full"))
}
