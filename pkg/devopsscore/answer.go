package devopsscore

import (
	"strconv"

	"google.golang.org/protobuf/types/known/timestamppb"

	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

// AppendConvIndex appends the conv_index object answered to the instance:
// {"usage_data_id": id} and, with a score, the 30 fields leader_<f>,
// instance_<f>, percentage_<f> in feature order (GitLab's client stores
// them in conversational_development_index_metrics).
func AppendConvIndex(b []byte, usageDataID int64, s *Score) []byte {
	b = append(b, `{"usage_data_id":`...)
	b = strconv.AppendInt(b, usageDataID, 10)
	if s != nil {
		names := FeatureNames()
		for f, name := range names {
			b = appendField(b, "leader_", name, s.Leader[f])
			b = appendField(b, "instance_", name, s.Instance[f])
			b = appendField(b, "percentage_", name, s.Percentage[f])
		}
	}
	return append(b, '}')
}

func appendField(b []byte, prefix, name string, v float64) []byte {
	b = append(b, ',', '"')
	b = append(b, prefix...)
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

// ToProto is the score as carried in the ping's envelope.
func (s *Score) ToProto() *servicepingv1.DevOpsScore {
	if s == nil {
		return nil
	}
	p := &servicepingv1.DevOpsScore{
		PreviousPingId:     s.PreviousPingID,
		PreviousRecordedAt: timestamppb.New(s.PreviousRecordedAt),
		ActiveUserCount:    s.ActiveUsers,
		LeadersInstances:   uint32(max(0, s.LeadersInstances)),
		Leader:             s.Leader[:],
		Instance:           s.Instance[:],
		Percentage:         s.Percentage[:],
	}
	if !s.LeadersComputedAt.IsZero() {
		p.LeadersComputedAt = timestamppb.New(s.LeadersComputedAt)
	}
	return p
}

// FromProto reads a score from an envelope; nil when p is nil. Missing
// values are 0, extra ones ignored.
func FromProto(p *servicepingv1.DevOpsScore) *Score {
	if p == nil {
		return nil
	}
	s := &Score{
		PreviousPingID:   p.GetPreviousPingId(),
		ActiveUsers:      p.GetActiveUserCount(),
		LeadersInstances: int(p.GetLeadersInstances()),
	}
	if t := p.GetPreviousRecordedAt(); t != nil {
		s.PreviousRecordedAt = t.AsTime()
	}
	if t := p.GetLeadersComputedAt(); t != nil {
		s.LeadersComputedAt = t.AsTime()
	}
	copy(s.Leader[:], p.GetLeader())
	copy(s.Instance[:], p.GetInstance())
	copy(s.Percentage[:], p.GetPercentage())
	return s
}
