import { render, screen, within } from '@testing-library/react';
import type { GatewayPlan } from '@quarterdeck/plugin-gateway-common';
import { PlansTable } from './ProductCard';

describe('PlansTable', () => {
  const plans: GatewayPlan[] = [
    { name: 'open', requestsPerMinute: 60 },
    { name: 'small', requestsPerMinute: 10, models: ['chat-small'] },
    { name: 'closed', requestsPerMinute: 1, models: [] },
  ];

  it("says which models each plan of a model product lets a key call: all, those named, or none", () => {
    render(<PlansTable plans={plans} kind="openai" />);
    const rows = within(screen.getByRole('table', { name: 'plans' })).getAllByRole('row').slice(1);
    expect(rows.map(row => within(row).getAllByRole('cell').at(-1)!.textContent)).toEqual(['all', 'chat-small', 'none']);
  });

  it('shows no models for a REST product, which has none', () => {
    render(<PlansTable plans={[plans[0]]} kind="rest" />);
    const table = screen.getByRole('table', { name: 'plans' });
    expect(within(table).queryByText('Models')).not.toBeInTheDocument();
    expect(within(table).queryByText('all')).not.toBeInTheDocument();
  });
});
