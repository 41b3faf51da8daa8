package proto

import "testing"

func TestImageNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{FdinfoImg(2), "fdinfo-2.img"},
		{MountpointsImg(9), "mountpoints-9.img"},
		{IdsImg(149), "ids-149.img"},
		{FsImg(149), "fs-149.img"},
		{MmImg(4294967295), "mm-4294967295.img"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
