import { render, screen } from '@testing-library/react';
import { MeasurementChart } from './RolloutCard';

describe('MeasurementChart', () => {
  it('draws no point for a query that found nothing, scales to the values, and says what it shows', () => {
    render(<MeasurementChart measurements={[
      { phase: 'Successful', value: '[0.012]' },
      { phase: 'Error', value: '[]' },
      { phase: 'Failed', value: '[0.05]' },
    ]} />);
    const chart = screen.getByRole('img', { name: 'measurements over time: 3 measurements, the latest [0.05] (Failed), 1 failed' });
    const points = chart.querySelector('polyline')!.getAttribute('points')!.split(' ').map(p => p.split(',').map(Number));
    // Two values, not three: the empty one is not a 0.
    expect(points).toHaveLength(2);
    // 0.012 at the bottom and 0.05 at the top of the 48-pixel chart, not both near 0 on a 0–1 scale.
    expect(points.map(([, y]) => y)).toEqual([42, 6]);
  });
});
