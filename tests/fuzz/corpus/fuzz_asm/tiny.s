module 0x2 m
function public f () -> () locals 0
	ret
end
