module 0x2 user
import 0x2 user f () -> ()
function public f () -> () locals 0
	ret
end
