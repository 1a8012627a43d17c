# Values are bounded while they are built: a list doubled forty times stops at the first
# join over 1,000,000 elements, a string doubled at the first over 1 MiB; what uses them
# is not reported again.
pipeline value_limits {
  let l0 = [1]
  let l1 = l0 + l0
  let l2 = l1 + l1
  let l3 = l2 + l2
  let l4 = l3 + l3
  let l5 = l4 + l4
  let l6 = l5 + l5
  let l7 = l6 + l6
  let l8 = l7 + l7
  let l9 = l8 + l8
  let l10 = l9 + l9
  let l11 = l10 + l10
  let l12 = l11 + l11
  let l13 = l12 + l12
  let l14 = l13 + l13
  let l15 = l14 + l14
  let l16 = l15 + l15
  let l17 = l16 + l16
  let l18 = l17 + l17
  let l19 = l18 + l18
  let l20 = l19 + l19
  let l21 = l20 + l20
  let l22 = l21 + l21
  let l23 = l22 + l22
  let l24 = l23 + l23
  let l25 = l24 + l24
  let l26 = l25 + l25
  let l27 = l26 + l26
  let l28 = l27 + l27
  let l29 = l28 + l28
  let l30 = l29 + l29
  let l31 = l30 + l30
  let l32 = l31 + l31
  let l33 = l32 + l32
  let l34 = l33 + l33
  let l35 = l34 + l34
  let l36 = l35 + l35
  let l37 = l36 + l36
  let l38 = l37 + l37
  let l39 = l38 + l38
  let l40 = l39 + l39
  let s0 = "sixteen bytes..."
  let s1 = s0 + s0
  let s2 = s1 + s1
  let s3 = s2 + s2
  let s4 = s3 + s3
  let s5 = s4 + s4
  let s6 = s5 + s5
  let s7 = s6 + s6
  let s8 = s7 + s7
  let s9 = s8 + s8
  let s10 = s9 + s9
  let s11 = s10 + s10
  let s12 = s11 + s11
  let s13 = s12 + s12
  let s14 = s13 + s13
  let s15 = s14 + s14
  let s16 = s15 + s15
  let s17 = s16 + s16
  stage use = synth.arith(n = 10, seed = l40)
}
