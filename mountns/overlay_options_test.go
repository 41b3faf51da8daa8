package mountns

import (
	"errors"
	"reflect"
	"testing"
)

// Real fixture lines are covered by table_test.go. These cases are the
// corners a fixture cannot show, each justified by kernel source.
func TestParseOverlayOptionsCorners(t *testing.T) {
	for _, c := range []struct {
		name, opts string
		want       Overlay
	}{
		{
			// 3.18-4.5 printed ",lowerdir=%s" without seq_escape: the
			// mounter's overlay escapes appear raw.
			name: "pre-4.6 raw", opts: `rw,lowerdir=/a\:b:/c,upperdir=/u\\v,workdir=/w`,
			want: Overlay{Lower: []Layer{{Path: "/a:b"}, {Path: "/c"}}, Upper: `/u\v`, Work: "/w"},
		},
		{
			// ovl_unescape drops a trailing lone backslash.
			name: "trailing backslash", opts: `rw,lowerdir=/a\134`,
			want: Overlay{Lower: []Layer{{Path: "/a"}}},
		},
		{
			// An octal escape is three digits, the first 0-3; anything else stays.
			name: "not octal", opts: `rw,lowerdir=/a\9xy:/b\400`,
			want: Overlay{Lower: []Layer{{Path: "/a9xy"}, {Path: "/b400"}}},
		},
		{
			name: "unknown and flags", opts: "ro,lowerdir=/a:/b,default_permissions,verity=require,volatile,future=1,newflag",
			want: Overlay{Lower: []Layer{{Path: "/a"}, {Path: "/b"}}, ReadOnly: true, DefaultPermissions: true,
				Verity: "require", Volatile: true, Other: []string{"future=1", "newflag"}},
		},
	} {
		got, err := ParseOverlayOptions(c.opts)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(*got, c.want) {
			t.Errorf("%s: %q\n got %+v\nwant %+v", c.name, c.opts, *got, c.want)
		}
	}
}

func TestParseOverlayOptionsErrors(t *testing.T) {
	// The kernel refuses all of these at mount time (ovl_parse_param_split_lowerdirs,
	// ovl_mount_dir_noesc "empty lowerdir"), so mountinfo never shows them.
	for _, opts := range []string{"lowerdir=", "lowerdir=:/a", "lowerdir=/a:", "lowerdir=/a:::/b", "lowerdir=/a::", "lowerdir+=", "datadir+="} {
		if _, err := ParseOverlayOptions(opts); !errors.Is(err, errEmptyLayer) {
			t.Errorf("%q: err %v, want errEmptyLayer", opts, err)
		}
	}
}

func FuzzParseOverlayOptions(f *testing.F) {
	f.Add(`rw,lowerdir=/run/esc/lo\040space:/run/esc/lo\134\054comma:/run/esc/lo\134:colon,upperdir=/u\134\054p,workdir=/w,uuid=on`)
	f.Add(`ro,lowerdir=/a:/b::/c,redirect_dir=on,metacopy=on`)
	f.Add(`rw,lowerdir+=/l1,lowerdir+=/l\0402,datadir+=/d:1,upperdir=/u,workdir=/w`)
	f.Fuzz(func(t *testing.T, opts string) {
		o, err := ParseOverlayOptions(opts)
		if err == nil && o == nil {
			t.Fatal("nil overlay without error")
		}
		if err == nil {
			for _, l := range o.Lower {
				if l.Path == "" && !errors.Is(err, errEmptyLayer) {
					t.Fatalf("empty layer path accepted in %q", opts)
				}
			}
		}
	})
}
