module 0x2 m
resource R a b c d e f g h i j k l m n o p
function public f () -> () locals 0
	sender
	rdel R
	ret
end
