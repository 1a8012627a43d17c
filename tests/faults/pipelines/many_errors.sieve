# fault: many problems at once (all reported, each at its place)
pipeline p {
  stage a = synth.arith(n = "x", bogus = 1)
  stage b = nosuch.kind()
  stage c = concat(a, zz)
  let q = undefined_thing + 1
}
